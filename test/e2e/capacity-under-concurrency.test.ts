import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

interface ContentionResult {
  granted: number;
  runIds: Set<string>;
  maxConcurrent: number;
  maxHeldSeen: number;
  viewsTaken: number;
}

/**
 * Runs `acquirers` parallel holders against one resource, each served by services[i % n].
 * The holders' own view is a subset of the true holding intervals (counted after the 201,
 * uncounted before the DELETE is sent), so any overlap it shows is a real violation.
 */
async function contend(
  services: TestService[],
  resource: string,
  capacity: number,
  acquirers: number,
  holdMs: () => number,
): Promise<ContentionResult> {
  const slotHolders = new Map<number, string>();
  const runIds = new Set<string>();
  let concurrent = 0;
  let maxConcurrent = 0;
  let granted = 0;
  let done = false;

  const holder = async (index: number) => {
    const service = services[index % services.length]!;
    const acquired = await service.call('POST', `/resources/${resource}/acquire`, {
      capacity,
      waitMs: 60_000,
      leaseMs: 60_000,
      holder: `acquirer ${index}`,
    });
    assert.equal(acquired.status, 201, `acquirer ${index} was not served: ${JSON.stringify(acquired.body)}`);
    const { runId, slot } = acquired.body as { runId: string; slot: number };
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    granted++;
    assert.ok(slot >= 0 && slot < capacity, `slot ${slot} is outside 0..${capacity - 1}`);
    assert.ok(!slotHolders.has(slot), `slot ${slot} granted to ${runId} while ${slotHolders.get(slot)} still held it`);
    assert.ok(!runIds.has(runId), `runId ${runId} was handed out twice`);
    slotHolders.set(slot, runId);
    runIds.add(runId);

    await sleep(holdMs());

    concurrent--;
    slotHolders.delete(slot);
    const released = await service.call('DELETE', `/permits/${runId}`);
    assert.equal(released.status, 204, `release of ${runId}: ${JSON.stringify(released.body)}`);
  };

  // The server's own view, read slot by slot (strong consistency), sampled throughout the run.
  let maxHeldSeen = 0;
  let viewsTaken = 0;
  const observer = async () => {
    while (!done) {
      const view = await services[0]!.call('GET', `/resources/${resource}?capacity=${capacity}`);
      assert.equal(view.status, 200);
      assert.equal(view.body.consistency, 'strong');
      const held = view.body.held as Array<{ slot: number; runId: string }>;
      assert.ok(held.length <= capacity, `GET /resources showed ${held.length} holders of a capacity-${capacity} resource`);
      assert.equal(new Set(held.map((permit) => permit.slot)).size, held.length, 'two held permits share a slot');
      maxHeldSeen = Math.max(maxHeldSeen, held.length);
      viewsTaken++;
      await sleep(20);
    }
  };

  // Caught at once so a failed sample is reported as the test's failure, not an unhandled rejection.
  let observerError: unknown;
  const watching = observer().catch((error: unknown) => {
    observerError = error;
  });
  try {
    await Promise.all(Array.from({ length: acquirers }, (_, index) => holder(index)));
  } finally {
    done = true;
    await watching;
  }
  if (observerError) throw observerError;
  return { granted, runIds, maxConcurrent, maxHeldSeen, viewsTaken };
}

const randomHold = (minMs: number, maxMs: number) => () => minMs + Math.random() * (maxMs - minMs);

test('24 waiting acquirers on a capacity-3 resource are all served, never more than 3 at once', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('cap3');

  const result = await contend([service], resource, 3, 24, randomHold(100, 300));

  assert.equal(result.granted, 24);
  assert.equal(result.runIds.size, 24);
  assert.ok(result.maxConcurrent <= 3);
  // With 24 contenders the semaphore must actually admit 3 at a time, not serialize them.
  assert.equal(result.maxConcurrent, 3);
  assert.ok(result.viewsTaken > 0);
  const after = await service.call('GET', `/resources/${resource}?capacity=3`);
  assert.deepEqual(after.body.held, []);
});

test('12 waiting acquirers on a mutex hold it strictly one at a time and are all served', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('mutex');

  const result = await contend([service], resource, 1, 12, randomHold(50, 150));

  assert.equal(result.granted, 12);
  assert.equal(result.runIds.size, 12);
  assert.equal(result.maxConcurrent, 1);
  assert.ok(result.maxHeldSeen <= 1);
});

test('acquirers spread over two replicas share one capacity of 3 and are all served', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('cap3-replicas');

  const result = await contend([replicaA, replicaB], resource, 3, 24, randomHold(100, 300));

  assert.equal(result.granted, 24);
  assert.equal(result.runIds.size, 24);
  assert.ok(result.maxConcurrent <= 3);
  assert.ok(result.maxHeldSeen <= 3);
});
