import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metric, until } from '../helpers/metrics.js';
import { http, spawnService, tempDataDir } from '../helpers/process.js';
import { startTestService, testTemporalAddress, uniqueResource, type TestService } from '../helpers/service.js';

// The capacity of a resource is its holders' capacity: callers that disagree cannot both be granted.

const acquire = (service: TestService, resource: string, body: Record<string, unknown> = {}) =>
  service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000, ...body });

/** Every held permit of the resource, read slot by slot (not from visibility). */
async function holders(service: TestService, resource: string, slots: number) {
  const view = await service.call('GET', `/resources/${resource}?capacity=${slots}`);
  assert.equal(view.status, 200, JSON.stringify(view.body));
  assert.equal(view.body.consistency, 'strong');
  return view.body.held as Array<{ runId: string; slot: number; capacity: number }>;
}

async function recordCalls(service: TestService): Promise<number> {
  const text = String((await service.call('GET', '/metrics')).body);
  return text
    .split('\n')
    .filter((line) => line.startsWith('lock_capacity_record_calls_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

test('while a resource has holders, an acquire naming another capacity gets 409 capacity_conflict naming the one in force', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('mx');

  const mutex = await acquire(service, resource, { capacity: 1 });
  assert.equal(mutex.status, 201, JSON.stringify(mutex.body));
  for (let i = 0; i < 4; i++) {
    const refused = await acquire(service, resource, { capacity: 5 });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'capacity_conflict');
    assert.equal(refused.body.capacity, 1);
    assert.match(refused.body.message, /capacity 1 in force/);
  }
  // Naming no capacity means the one in force: the mutex is held, so busy.
  const unnamed = await acquire(service, resource);
  assert.equal(unnamed.status, 409);
  assert.equal(unnamed.body.error, 'resource_busy');
  // A waiter naming another capacity is refused at once, not queued.
  const waiter = await acquire(service, resource, { capacity: 5, waitMs: 10_000 });
  assert.equal(waiter.body.error, 'capacity_conflict');
  assert.equal(await metric(service, 'lock_waiters'), 0);

  assert.deepEqual((await holders(service, resource, 5)).map((permit) => permit.runId), [mutex.body.runId]);
});

test('once nobody holds a resource, the next acquire sets its capacity, and it holds until the holders are gone', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('change');

  const first = await acquire(service, resource, { capacity: 1 });
  assert.equal(first.status, 201);
  assert.equal((await service.call('DELETE', `/permits/${first.body.runId}`)).status, 204);

  const five = [];
  for (let i = 0; i < 5; i++) {
    const granted = await acquire(service, resource, { capacity: 5 });
    assert.equal(granted.status, 201, `holder ${i + 1} of 5: ${JSON.stringify(granted.body)}`);
    five.push(granted.body);
  }
  assert.equal((await acquire(service, resource, { capacity: 5 })).body.error, 'resource_busy');
  const mutex = await acquire(service, resource, { capacity: 1 });
  assert.equal(mutex.body.error, 'capacity_conflict');
  assert.equal(mutex.body.capacity, 5);

  // Four leave: the one left keeps capacity 5 in force.
  for (const permit of five.slice(0, 4)) assert.equal((await service.call('DELETE', `/permits/${permit.runId}`)).status, 204);
  assert.equal((await acquire(service, resource, { capacity: 1 })).body.error, 'capacity_conflict');
  assert.equal((await acquire(service, resource)).status, 201, 'naming no capacity takes a slot under the one in force');
});

/** A refusal because of the resource's capacity: in conflict with the one in force, or busy while a change is decided. */
function refusedForCapacity(body: { error?: string; message?: string }): boolean {
  return body.error === 'capacity_conflict' || (body.error === 'resource_busy' && /being changed/.test(body.message ?? ''));
}

test('a capacity-1 caller and five capacity-5 callers arriving together on a fresh resource: the capacity-1 caller alone, or refused', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const outcomes = { mutexAlone: 0, mutexRefused: 0 };
  for (let round = 0; round < 8; round++) {
    const resource = uniqueResource('race');
    const callers = [
      acquire(round % 2 ? replicaA : replicaB, resource, { capacity: 1 }),
      ...Array.from({ length: 5 }, (_, i) => acquire(i % 2 ? replicaA : replicaB, resource, { capacity: 5 })),
    ];
    const [mutex, ...semaphore] = await Promise.all(callers);
    const granted = semaphore.filter((answer) => answer.status === 201);
    const held = await holders(replicaA, resource, 5);
    if (mutex!.status === 201) {
      outcomes.mutexAlone++;
      assert.equal(granted.length, 0, `round ${round}: the capacity-1 caller was told it holds a mutex while capacity-5 callers hold it too`);
      // Refused for the capacity in force, or, while a change to theirs is still being decided, told to retry.
      for (const answer of semaphore) assert.ok(refusedForCapacity(answer.body), JSON.stringify(answer.body));
      assert.deepEqual(held.map((permit) => permit.runId), [mutex!.body.runId]);
    } else {
      outcomes.mutexRefused++;
      assert.ok(refusedForCapacity(mutex!.body), `round ${round}: ${JSON.stringify(mutex!.body)}`);
      assert.ok(granted.length >= 1, `round ${round}: everyone was refused`);
      assert.deepEqual(held.map((permit) => permit.capacity).sort(), granted.map(() => 5));
    }
  }
  t.diagnostic(`capacity-1 caller alone in ${outcomes.mutexAlone} rounds, refused in ${outcomes.mutexRefused}`);
});

test('another replica that relied on the old capacity stops granting under it the moment it changes', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('replicas');

  const onA = await acquire(replicaA, resource, { capacity: 5 });
  assert.equal(onA.status, 201);
  assert.equal((await replicaA.call('DELETE', `/permits/${onA.body.runId}`)).status, 204);

  // A still leases the record of capacity 5; B's change waits for A to acknowledge, not for A's lease to run out.
  const started = Date.now();
  const onB = await acquire(replicaB, resource, { capacity: 1 });
  assert.equal(onB.status, 201, JSON.stringify(onB.body));
  assert.ok(Date.now() - started < replicaA.config.capacityLeaseMs / 2, 'the change waited for the lease instead of the acknowledgement');

  const refused = await acquire(replicaA, resource, { capacity: 5 });
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.error, 'capacity_conflict');
  assert.equal(refused.body.capacity, 1);
});

test('once a replica trusts a resource\'s capacity, acquires and releases cost no call on its capacity record', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('steady');
  const first = await acquire(service, resource, { capacity: 3 });
  assert.equal(first.status, 201);
  assert.equal((await service.call('DELETE', `/permits/${first.body.runId}`)).status, 204);

  const before = await recordCalls(service);
  assert.ok(before > 0, 'the first acquire learned the capacity from the resource\'s record');
  for (let cycle = 0; cycle < 20; cycle++) {
    const granted = await acquire(service, resource, cycle % 2 ? { capacity: 3 } : {});
    assert.equal(granted.status, 201);
    assert.equal((await service.call('DELETE', `/permits/${granted.body.runId}`)).status, 204);
  }
  assert.equal(await recordCalls(service), before, 'steady-state acquires called the capacity record');
});

test('callers on two replicas that keep switching between capacities 1 and 3 never hold at once under different capacities', { timeout: 120_000 }, async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('churn');
  // What each holder was told: from its 201 until it sent its DELETE, it held a slot under `capacity`.
  const holds: Array<{ capacity: number; from: number; to: number }> = [];
  const started = Date.now();
  const until = started + 8_000;
  // Callers follow phases of one capacity, each switching at its own offset: callers that switched
  // race those that have not, and the resource empties at every phase, so both capacities get held
  // (a fixed mix would let three capacity-3 holders keep the resource busy for ever).
  const phaseMs = 800;
  const worker = async (index: number) => {
    const replica = index % 2 ? replicaA : replicaB;
    for (let round = 0; Date.now() < until; round++) {
      const phase = Math.floor((Date.now() - started + index * 60) / phaseMs);
      const capacity = phase % 2 ? 3 : 1;
      const answer = await acquire(replica, resource, { capacity });
      if (answer.status !== 201) {
        assert.ok(['resource_busy', 'capacity_conflict'].includes(answer.body.error), JSON.stringify(answer.body));
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const from = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 10 + (round % 4) * 10));
      const to = Date.now();
      assert.equal((await replica.call('DELETE', `/permits/${answer.body.runId}`)).status, 204);
      holds.push({ capacity, from, to });
    }
  };
  await Promise.all(Array.from({ length: 6 }, (_, index) => worker(index)));

  for (const hold of holds) {
    const others = holds.filter((other) => other.capacity !== hold.capacity && other.from < hold.to && hold.from < other.to);
    assert.deepEqual(others, [], `a holder under capacity ${hold.capacity} overlapped holders under another capacity`);
  }
  // The most holders at one moment, by a sweep over the moments holds begin and end.
  const moments = holds.flatMap((hold) => [
    { at: hold.from, delta: 1, capacity: hold.capacity },
    { at: hold.to, delta: -1, capacity: hold.capacity },
  ]);
  moments.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let current = 0;
  for (const moment of moments) {
    current += moment.delta;
    assert.ok(current <= moment.capacity, `${current} holders at once under capacity ${moment.capacity}`);
  }
  const byCapacity = (capacity: number) => holds.filter((hold) => hold.capacity === capacity).length;
  t.diagnostic(`${holds.length} holds: ${byCapacity(1)} under capacity 1, ${byCapacity(3)} under capacity 3`);
  assert.ok(byCapacity(1) > 0 && byCapacity(3) > 0, 'the capacity never changed, so nothing was tested');
});

test('a capacity change waits out the lease of a replica that died while relying on the old capacity, then completes', { timeout: 120_000 }, async (t) => {
  const leaseMs = 3_000;
  const survivor = await startTestService(t, { CAPACITY_LEASE_MS: String(leaseMs) });
  const doomed = spawnService(t, await tempDataDir(t), {
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_TASK_QUEUE: survivor.config.temporal.taskQueue,
    CAPACITY_LEASE_MS: String(leaseMs),
    PORT: '0',
  });
  const listening = await doomed.waitForLog('"lock service listening"', (line) => line.msg === 'lock service listening');
  const resource = uniqueResource('dead-replica');
  const url = String(listening.url);
  const held = await http('POST', `${url}/resources/${resource}/acquire`, { capacity: 5, leaseMs: 30_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  assert.equal((await http('DELETE', `${url}/permits/${held.body.runId}`)).status, 204);
  process.kill(doomed.groupId, 'SIGKILL');
  const killedAt = Date.now();
  await doomed.waitForExit(10_000);

  // The dead replica leased the capacity-5 record and can no longer acknowledge a change: until its
  // lease runs out nobody may change the capacity, since it might still be granting.
  const early = await acquire(survivor, resource, { capacity: 1 });
  assert.equal(early.status, 409, JSON.stringify(early.body));
  assert.equal(early.body.error, 'resource_busy');
  assert.match(early.body.message, /capacity .* is being changed/);

  const granted = await acquire(survivor, resource, { capacity: 1, waitMs: 20_000 });
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  const afterMs = Date.now() - killedAt;
  assert.ok(afterMs < leaseMs + 10_000, `the change took ${afterMs} ms after the kill for a ${leaseMs} ms lease`);
  assert.equal((await acquire(survivor, resource, { capacity: 5 })).body.error, 'capacity_conflict');
});

test('a replica stops following the capacity record of a resource it has not used for a lease', async (t) => {
  const service = await startTestService(t, { CAPACITY_LEASE_MS: '1000' });
  const resource = uniqueResource('idle-record');
  const granted = await acquire(service, resource, { capacity: 2 });
  assert.equal(granted.status, 201);
  assert.equal((await service.call('DELETE', `/permits/${granted.body.runId}`)).status, 204);
  assert.equal(await metric(service, 'lock_capacity_records_followed'), 1);
  await until(async () => (await metric(service, 'lock_capacity_records_followed')) === 0, 'the idle record is dropped', 10_000);
  // Used again, it is followed again; nobody holds the resource, so another capacity is taken.
  const again = await acquire(service, resource, { capacity: 3 });
  assert.equal(again.status, 201, JSON.stringify(again.body));
  assert.equal(again.body.capacity, 3);
  assert.equal(await metric(service, 'lock_capacity_records_followed'), 1);
});
