import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metric, until, untilWaiting } from '../helpers/metrics.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

// On a pool far larger than the 8 slots a replica watches, a slot freed on another replica used to be
// found only when the probe (8 starts a second) happened to try it: on 500 held slots, a waiter of a
// few seconds mostly gave up. Visibility's list of closed runs makes the find independent of capacity.

/** Acquires every slot of the resource through the replica, a few at a time; the held permits' runIds by slot. */
async function fill(replica: TestService, resource: string, capacity: number): Promise<Map<number, string>> {
  const held = new Map<number, string>();
  const lanes = 16;
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next++ < capacity) {
        const answer = await replica.call('POST', `/resources/${resource}/acquire`, { capacity, leaseMs: 120_000, waitMs: 10_000 });
        assert.equal(answer.status, 201, `fill: ${JSON.stringify(answer.body)}`);
        held.set(answer.body.slot, answer.body.runId);
      }
    }),
  );
  assert.equal(held.size, capacity);
  return held;
}

test('on a pool of 500 held slots, a waiter on one replica gets a slot released on another replica within seconds', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('large-pool');
  const capacity = 500;
  const held = await fill(replicaA, resource, capacity);

  // Three times in a row: in 5 s, a probe of 8 starts a second and 8 watches cover about a tenth of the
  // pool, so the old path would pass all three only by a lucky draw (well under 1 in 100). The wait is
  // longer than that: on a loaded machine, the waiter's own first search of 64 slots can take seconds.
  for (let trial = 1; trial <= 3; trial++) {
    const slots = [...held.keys()];
    const slot = slots[Math.floor(Math.random() * slots.length)]!;
    const waiting = replicaB.call('POST', `/resources/${resource}/acquire`, { capacity, leaseMs: 120_000, waitMs: 20_000 });
    await untilWaiting(replicaB, 1);
    const releasedAt = Date.now();
    assert.equal((await replicaA.call('DELETE', `/permits/${held.get(slot)}`)).status, 204);
    held.delete(slot);
    const granted = await waiting;
    const waitedMs = Date.now() - releasedAt;
    assert.equal(granted.status, 201, `trial ${trial}: the waiter on B was not granted slot ${slot} released on A: ${JSON.stringify(granted.body)}`);
    assert.equal(granted.body.slot, slot);
    assert.ok(waitedMs < 5_000, `trial ${trial}: the waiter on B got slot ${slot} ${waitedMs} ms after its release on A`);
    t.diagnostic(`trial ${trial}: slot ${slot} reached the waiter on B ${waitedMs} ms after its release on A`);
    await untilWaiting(replicaB, 0);
  }
});

test('a replica looks for closed runs once per probe interval for all its waiters, not once per waiter', async (t) => {
  const probeMs = 200;
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue, WAIT_PROBE_MS: String(probeMs) });
  const resources = [uniqueResource('looks-a'), uniqueResource('looks-b')];
  const capacity = 12; // more than the 8 slots a resource's watches cover
  for (const resource of resources) await fill(replicaA, resource, capacity);

  const waiters = resources.flatMap((resource) =>
    Array.from({ length: 10 }, () => replicaB.call('POST', `/resources/${resource}/acquire`, { capacity, waitMs: 30_000 })),
  );
  await untilWaiting(replicaB, 20);
  const looks = () =>
    Promise.all(['none', 'found', 'error'].map((result) => metric(replicaB, `lock_wait_closed_run_looks_total{result="${result}"}`))).then(
      (counts) => counts.reduce((sum, count) => sum + count, 0),
    );
  const before = await looks();
  const startedAt = Date.now();
  await until(async () => (await looks()) - before >= 5, 'B made 5 looks');
  const made = (await looks()) - before;
  const elapsedMs = Date.now() - startedAt;
  // Each look waits at least half the interval after the one before: 20 waiters on 2 resources, one look at a time.
  assert.ok(made <= elapsedMs / (probeMs / 2) + 2, `${made} looks in ${elapsedMs} ms with a ${probeMs} ms probe interval`);
  assert.equal(await metric(replicaB, 'lock_wait_closed_run_looks_total{result="error"}'), 0);

  await replicaB.stop();
  await Promise.all(waiters);
});
