import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { compareFencingSeq } from '../../packages/client/src/client/fencing.js';
import type { exampleConsumerWorkflow } from '../../src/temporal/workflows/example-consumer.js';
import { childCommand, readJournal } from '../helpers/child-command.js';
import { runCli, scratchDir } from '../helpers/cli.js';
import { startListeningService } from '../helpers/listening-service.js';
import { until } from '../helpers/metrics.js';
import { startPrivateTemporal } from '../helpers/private-temporal.js';
import { http } from '../helpers/process.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

// The fencing number (fencingSeq) must grow with every grant of a slot, however the grant before it
// ended and whoever granted it, and every replica must report the same number for a permit.

const FENCING_SEQ = /^[1-9][0-9]*$/;

function assertGrows(sequence: Array<{ fencingSeq: string; how: string }>): void {
  for (let index = 1; index < sequence.length; index++) {
    const before = sequence[index - 1]!;
    const after = sequence[index]!;
    assert.ok(
      compareFencingSeq(after.fencingSeq, before.fencingSeq) > 0,
      `${after.how} got ${after.fencingSeq}, not more than ${before.how}'s ${before.fencingSeq}: ${JSON.stringify(sequence)}`,
    );
  }
}

async function acquire(service: TestService, resource: string, body: Record<string, unknown>) {
  const answer = await service.call('POST', `/resources/${resource}/acquire`, body);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  assert.match(answer.body.fencingSeq, FENCING_SEQ);
  return answer.body as { runId: string; fencingSeq: string; expiresAt: string };
}

test('every grant of a mutex carries a larger fencingSeq than the one before, after a release, an expiry or a workflow holder, on either replica', async (t) => {
  const first = await startTestService(t);
  const second = await startTestService(t, { TEMPORAL_TASK_QUEUE: first.config.temporal.taskQueue });
  const resource = uniqueResource('fencing');
  const sequence: Array<{ fencingSeq: string; how: string }> = [];

  const a = await acquire(first, resource, { leaseMs: 60_000 });
  sequence.push({ fencingSeq: a.fencingSeq, how: 'the first grant' });
  // Every replica reports the same number for a permit: the one that granted it, and one that never saw it.
  for (const [name, replica] of [['granting', first], ['other', second]] as const) {
    const status = await replica.call('GET', `/permits/${a.runId}`);
    assert.equal(status.status, 200, JSON.stringify(status.body));
    assert.equal(status.body.fencingSeq, a.fencingSeq, `GET /permits on the ${name} replica`);
    const view = await replica.call('GET', `/resources/${resource}`);
    assert.equal(view.status, 200, JSON.stringify(view.body));
    assert.equal(view.body.held[0]?.fencingSeq, a.fencingSeq, `GET /resources on the ${name} replica`);
  }
  const renewed = await second.call('POST', `/permits/${a.runId}/renew`, { leaseMs: 60_000 });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.equal(renewed.body.fencingSeq, a.fencingSeq, 'a renewal keeps the number');
  assert.equal((await second.call('DELETE', `/permits/${a.runId}`)).status, 204);

  const b = await acquire(second, resource, { leaseMs: 1_000 });
  sequence.push({ fencingSeq: b.fencingSeq, how: 'a grant after a release on the other replica' });
  // b is never released: the next grant waits for its lease to run out.
  const c = await acquire(first, resource, { leaseMs: 60_000, waitMs: 30_000 });
  sequence.push({ fencingSeq: c.fencingSeq, how: 'a grant after an expiry' });
  assert.equal((await first.call('DELETE', `/permits/${c.runId}`)).status, 204);

  // A workflow holder (the Semaphore's child permit) draws from the same sequence.
  const consumer = await first.client.workflow.start<typeof exampleConsumerWorkflow>('exampleConsumerWorkflow', {
    taskQueue: first.config.temporal.taskQueue,
    workflowId: `consumer-${randomUUID()}`,
    args: [{ resource, capacity: 1, workMs: 10, holder: 'workflow holder' }],
  });
  t.after(() => consumer.terminate('test over').catch(() => undefined));
  const held = await consumer.result();
  assert.match(held.fencingSeq ?? '', FENCING_SEQ, 'the Semaphore gives its permit a fencing number');
  sequence.push({ fencingSeq: held.fencingSeq!, how: 'a workflow holder' });

  const d = await acquire(second, resource, { leaseMs: 60_000, waitMs: 30_000 });
  sequence.push({ fencingSeq: d.fencingSeq, how: 'a grant after the workflow holder released' });
  assertGrows(sequence);
});

test('the resource view listed from visibility (a capacity above 64) reports each permit\'s fencingSeq', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('fencing-wide');
  const permit = await acquire(service, resource, { capacity: 100, leaseMs: 60_000 });
  let held: Array<{ runId: string; fencingSeq: string }> = [];
  await until(async () => {
    const view = await service.call('GET', `/resources/${resource}`);
    assert.equal(view.body.consistency, 'eventual');
    held = view.body.held;
    return held.length === 1;
  }, 'visibility lists the permit');
  assert.equal(held[0]!.runId, permit.runId);
  assert.equal(held[0]!.fencingSeq, permit.fencingSeq);
});

test('fencingSeq keeps growing across a SIGKILL and restart of Temporal and a new service process', { timeout: 300_000 }, async (t) => {
  const temporal = await startPrivateTemporal();
  t.after(temporal.stop);
  const env = { TEMPORAL_ADDRESS: temporal.address, SHUTDOWN_TIMEOUT_MS: '5000' };
  const resource = uniqueResource('fencing-restart');
  const sequence: Array<{ fencingSeq: string; how: string }> = [];

  const before = await startTestService(undefined, env);
  try {
    for (let index = 0; index < 3; index++) {
      const permit = await acquire(before, resource, { leaseMs: 60_000 });
      sequence.push({ fencingSeq: permit.fencingSeq, how: `grant ${index + 1} before the restart` });
      assert.equal((await before.call('DELETE', `/permits/${permit.runId}`)).status, 204);
    }
  } finally {
    await before.stop();
  }
  await temporal.kill();
  await temporal.restart();

  const after = await startTestService(undefined, env);
  try {
    await until(async () => (await after.call('GET', '/readyz')).status === 200, 'the new service reaches Temporal', 60_000);
    const permit = await acquire(after, resource, { leaseMs: 60_000 });
    sequence.push({ fencingSeq: permit.fencingSeq, how: 'the first grant after the restart' });
    assert.equal((await after.call('DELETE', `/permits/${permit.runId}`)).status, 204);
  } finally {
    await after.stop();
  }
  assertGrows(sequence);
});

test('permit run gives the command PERMIT_FENCING_SEQ, the fencing number of its permit', async (t) => {
  const service = await startListeningService(t);
  const dir = await scratchDir(t);
  const resource = uniqueResource('fencing-cli');
  const journal = path.join(dir, 'child.jsonl');
  const result = await runCli(t, ['run', resource, '--', ...childCommand(journal, { holdMs: 100 })], { PERMIT_URL: service.url });
  assert.equal(result.code, 0, result.stderr);
  const started = (await readJournal(journal)).find((entry) => entry.event === 'started')!;
  const permitEnv = started.env!;
  assert.match(permitEnv.PERMIT_FENCING_SEQ ?? '', FENCING_SEQ);
  // The permit has been released; the next grant's number is larger.
  const next = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(next.status, 201, JSON.stringify(next.body));
  assert.ok(compareFencingSeq(next.body.fencingSeq, permitEnv.PERMIT_FENCING_SEQ!) > 0, `${next.body.fencingSeq} after ${permitEnv.PERMIT_FENCING_SEQ}`);
});
