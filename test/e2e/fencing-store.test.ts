import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { compareFencingSeq } from '../../packages/client/src/client/fencing.js';
import { startFencingStore } from '../helpers/fencing-store.js';
import { startListeningService } from '../helpers/listening-service.js';
import { until } from '../helpers/metrics.js';
import { REPO_ROOT, http } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';

// examples/fencing-store end to end: a real PostgreSQL started by the example's own script, the
// store in front of it, and permits from a real lock service.

interface StoreWrite {
  id: number;
  fencingSeq: string;
  writer: string | null;
}

async function write(storeUrl: string, key: string, fencingSeq: string, writer: string) {
  return http('POST', `${storeUrl}/keys/${key}/writes`, { fencingSeq, writer, value: `${writer} was here` });
}

async function storeLog(storeUrl: string, key: string): Promise<StoreWrite[]> {
  const answer = await http('GET', `${storeUrl}/keys/${key}/writes`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.writes;
}

function assertNeverDecreases(writes: StoreWrite[]): void {
  for (let index = 1; index < writes.length; index++) {
    assert.ok(
      compareFencingSeq(writes[index]!.fencingSeq, writes[index - 1]!.fencingSeq) >= 0,
      `write ${writes[index]!.id} (${writes[index]!.fencingSeq}) was accepted after ${writes[index - 1]!.fencingSeq}`,
    );
  }
}

async function acquire(serviceUrl: string, resource: string, body: Record<string, unknown>) {
  const answer = await http('POST', `${serviceUrl}/resources/${resource}/acquire`, body);
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body as { runId: string; fencingSeq: string };
}

test('the fencing store accepts the current holder\'s writes and refuses any write below the highest fencingSeq it accepted, also when they race', { timeout: 180_000 }, async (t) => {
  const store = await startFencingStore(t);
  const service = await startListeningService(t);
  const resource = uniqueResource('store');

  const first = await acquire(service.url, resource, { leaseMs: 60_000 });
  assert.equal((await write(store.url, resource, first.fencingSeq, 'first')).status, 200);
  assert.equal((await http('DELETE', `${service.url}/permits/${first.runId}`)).status, 204);
  const second = await acquire(service.url, resource, { leaseMs: 60_000 });

  // Both holders write at once, many times: whatever order the database sees them in, once the
  // second holder's number is in, no write of the first goes through.
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, index) =>
      index % 2 === 0 ? write(store.url, resource, first.fencingSeq, 'first') : write(store.url, resource, second.fencingSeq, 'second'),
    ),
  );
  for (const answer of answers) assert.ok(answer.status === 200 || answer.status === 409, JSON.stringify(answer.body));
  assert.ok(answers.filter((answer) => answer.status === 200).length >= 20, 'every write of the current holder goes through');
  const late = await write(store.url, resource, first.fencingSeq, 'first');
  assert.equal(late.status, 409, JSON.stringify(late.body));
  assert.equal(late.body.error, 'stale_fencing_seq');
  assert.equal(late.body.highestSeq, second.fencingSeq);

  const writes = await storeLog(store.url, resource);
  assertNeverDecreases(writes);
  const firstOfSecond = writes.findIndex((entry) => entry.writer === 'second');
  assert.ok(writes.slice(firstOfSecond).every((entry) => entry.writer === 'second'), JSON.stringify(writes));
  const current = await http('GET', `${store.url}/keys/${resource}`);
  assert.equal(current.body.highestSeq, second.fencingSeq);
});

test('a holder stopped with SIGSTOP past its lease is refused by the store when it resumes, and the next holder\'s writes go through', { timeout: 180_000 }, async (t) => {
  const store = await startFencingStore(t);
  const service = await startListeningService(t);
  const resource = uniqueResource('store-paused');

  // The first holder: `permit run` with a 5 s lease (short, yet renewable in time on a loaded machine), running the example's writer, which writes
  // every 100 ms with its permit's fencing number.
  const holder = spawn(
    process.execPath,
    [
      '--import', 'tsx', path.join(REPO_ROOT, 'packages', 'client', 'src', 'cli', 'main.ts'), 'run', resource, '--lease', '5s', '--',
      process.execPath, '--import', 'tsx', path.join(REPO_ROOT, 'examples', 'fencing-store', 'writer.ts'),
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, PERMIT_URL: service.url, FENCING_STORE_URL: store.url, WRITER: 'paused holder', WRITE_EVERY_MS: '100' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  holder.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  holder.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => holder.once('close', (code) => resolve(code)));
  const lines = () => output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
  const stopped: { writerPid?: number } = {};
  t.after(() => {
    for (const pid of [stopped.writerPid, holder.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  await until(async () => {
    // A holder that exits before writing cannot write later: say why at once instead of waiting out the timeout.
    assert.ok(!exitedEarly, `permit run exited before its writer's first accepted write\n${output}`);
    return lines().some((line) => line.event === 'accepted');
  }, 'the first holder\'s writes are accepted', 60_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${output}`);
  });
  const accepted = lines().find((line) => line.event === 'accepted')!;
  const writerPid = accepted.pid as number;
  stopped.writerPid = writerPid;
  const pausedSeq = accepted.fencingSeq as string;

  // The whole holder stops, as in a long GC pause or a stopped VM: no writes, no renewals.
  process.kill(holder.pid!, 'SIGSTOP');
  process.kill(writerPid, 'SIGSTOP');

  // Its lease runs out; the next holder is granted the resource and writes.
  const next = await acquire(service.url, resource, { leaseMs: 60_000, waitMs: 60_000 });
  assert.ok(compareFencingSeq(next.fencingSeq, pausedSeq) > 0);
  const nextWrite = await write(store.url, resource, next.fencingSeq, 'next holder');
  assert.equal(nextWrite.status, 200, JSON.stringify(nextWrite.body));

  // The paused writer resumes still believing it holds the permit: its next write is refused.
  process.kill(writerPid, 'SIGCONT');
  await until(async () => lines().some((line) => line.event === 'refused'), 'the resumed holder\'s write is refused', 30_000);
  const refused = lines().find((line) => line.event === 'refused')!;
  assert.equal(refused.fencingSeq, pausedSeq);
  assert.equal(refused.highestSeq, next.fencingSeq);
  process.kill(holder.pid!, 'SIGCONT');
  assert.equal(await exited, 76, `permit run reports the permit lost\n${output}`);

  // The store accepted nothing of the paused holder after the next holder's first write, and the next holder goes on.
  assert.equal((await write(store.url, resource, next.fencingSeq, 'next holder')).status, 200);
  const writes = await storeLog(store.url, resource);
  assertNeverDecreases(writes);
  const firstOfNext = writes.findIndex((entry) => entry.writer === 'next holder');
  assert.ok(firstOfNext > 0, 'the paused holder had written before it was stopped');
  assert.deepEqual(
    writes.slice(firstOfNext).map((entry) => entry.writer),
    ['next holder', 'next holder'],
    'no write of the paused holder was accepted after the next holder\'s',
  );
});
