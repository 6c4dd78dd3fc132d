import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import {
  ClosedRunFeed,
  LOOK_OVERLAP_MS,
  MAX_CLOSES_PER_RESOURCE,
  MAX_RESOURCES_PER_LOOK,
  closedRunsQuery,
  type ClosedPermitRun,
} from '../../src/permits/closed-run-feed.js';
import type { TemporalRpc } from '../../src/permits/temporal-rpc.js';
import { Metrics } from '../../src/metrics.js';
import { until } from '../helpers/metrics.js';

// Which closes the feed hands on, and what it asks visibility, with a scripted visibility; the real
// one is asked end to end in test/e2e/large-pool-waiting.test.ts.

test('the query lists the closed permit runs of the named resources since a moment, and refuses what is not a resource name', () => {
  const since = new Date('2026-01-02T03:04:05.678Z');
  assert.equal(
    closedRunsQuery(['a', 'b.c'], since),
    "WorkflowType = 'permitWorkflow' AND ExecutionStatus != 'Running' AND CloseTime > '2026-01-02T03:04:05.678Z'" +
      " AND (WorkflowId STARTS_WITH 'permit:a:' OR WorkflowId STARTS_WITH 'permit:b.c:')",
  );
  assert.throws(() => closedRunsQuery(["x' OR WorkflowId != '"], since), /not a resource name/);
  assert.throws(() => closedRunsQuery([], since), /at least one resource/);
});

interface Listed {
  workflowId: string;
  runId: string;
  closeTime: Date;
}

/** A visibility that answers every look with the rows the test sets, and records the queries. */
function scriptedVisibility() {
  const queries: string[] = [];
  let rows: Listed[] = [];
  const rpc = {
    call: <T>(fn: () => Promise<T>) => fn(),
    client: {
      workflow: {
        list: ({ query }: { query: string }) => {
          queries.push(query);
          const answer = [...rows];
          return (async function* () {
            yield* answer;
          })();
        },
      },
    },
  } as unknown as TemporalRpc;
  return {
    rpc,
    queries,
    setRows(next: Listed[]) {
      rows = next;
    },
  };
}

function feedWith(visibility: ReturnType<typeof scriptedVisibility>, wanted: () => string[] | undefined) {
  const closed: ClosedPermitRun[] = [];
  const feed = new ClosedRunFeed({
    rpc: visibility.rpc,
    intervalMs: 20,
    wanted,
    closed: (run) => closed.push(run),
    metrics: new Metrics(),
    log: pino({ level: 'silent' }),
  });
  return { feed, closed };
}

async function untilQueries(visibility: ReturnType<typeof scriptedVisibility>, count: number): Promise<void> {
  await until(async () => visibility.queries.length >= count, `${count} looks were made`, 1_000);
}

test('a close is handed on once, though overlapping looks list it again; at most 16 per resource, the newest', async () => {
  const visibility = scriptedVisibility();
  const now = Date.now();
  const rows = Array.from({ length: 20 }, (_, index) => ({
    workflowId: `permit:r:${index}`,
    runId: `run-${index}`,
    closeTime: new Date(now - index), // newest first, as visibility lists them
  }));
  visibility.setRows([...rows, { workflowId: 'permit:other:1', runId: 'other-1', closeTime: new Date(now) }]);
  const { feed, closed } = feedWith(visibility, () => ['r']);
  feed.start();
  await untilQueries(visibility, 3);
  feed.close();
  assert.deepEqual(
    closed.map((run) => run.slot),
    Array.from({ length: 20 }, (_, index) => index),
    'each close of r once: the 16 newest by the first look, the 4 older by the next; none of a resource nobody waits on',
  );
  assert.equal(MAX_CLOSES_PER_RESOURCE, 16);
});

test('the looks take turns over many resources, and each reaches back before the previous look', async () => {
  const visibility = scriptedVisibility();
  const resources = Array.from({ length: MAX_RESOURCES_PER_LOOK + 4 }, (_, index) => `r${index}`);
  const { feed } = feedWith(visibility, () => resources);
  const started = Date.now();
  feed.start();
  await untilQueries(visibility, 2);
  feed.close();
  const named = (query: string) => [...query.matchAll(/'permit:([^:]+):'/g)].map((match) => match[1]);
  const [first, second] = visibility.queries.map(named);
  assert.equal(first!.length, MAX_RESOURCES_PER_LOOK);
  assert.ok(second!.includes('r16') && second!.includes('r19'), 'the resources left out of the first look come next');
  const since = (query: string) => Date.parse(/CloseTime > '([^']+)'/.exec(query)![1]!);
  assert.ok(since(visibility.queries[0]!) >= started - LOOK_OVERLAP_MS - 5);
  assert.ok(since(visibility.queries[0]!) <= Date.now() - LOOK_OVERLAP_MS);
});

test('the feed stops by itself once nobody waits, and makes no look while nothing needs one', async () => {
  const visibility = scriptedVisibility();
  let wanted: string[] | undefined = [];
  let asked = 0;
  const { feed } = feedWith(visibility, () => {
    asked++;
    return wanted;
  });
  feed.start();
  // Each interval the feed asks what is wanted; three asks answered with [] made no look.
  await until(async () => asked >= 3, 'the feed asked three times', 1_000);
  assert.equal(visibility.queries.length, 0, 'waiters whose held slots are all watched need no look');
  wanted = undefined;
  const askedWhileWanted = asked;
  await until(async () => asked > askedWhileWanted, 'the feed heard that nobody waits', 1_000);
  wanted = ['r'];
  // Stopped, it asks no more: over 5 intervals (20 ms each) a running feed would have looked.
  const askedWhenStopped = asked;
  await sleep(100);
  assert.equal(asked, askedWhenStopped, 'the stopped feed kept asking');
  assert.equal(visibility.queries.length, 0, 'stopped once nobody waited, until started again');
  feed.start();
  await untilQueries(visibility, 1);
  feed.close();
});
