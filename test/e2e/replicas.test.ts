import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestService, uniqueResource } from '../helpers/service.js';

// Two services on one task queue are two replicas behind a load balancer: no sticky sessions,
// so a replica must serve a runId it never issued, straight after the acquire.

test('a permit acquired on one replica can at once be checked, renewed and released on another', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('replicas');

  const acquired = await replicaA.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000, holder: 'replica A client' });
  assert.equal(acquired.status, 201);
  const { runId } = acquired.body;

  const status = await replicaB.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 200, `GET on B: ${JSON.stringify(status.body)}`);
  assert.equal(status.body.state, 'held');
  assert.equal(status.body.workflowId, acquired.body.workflowId);
  assert.equal(status.body.holder, 'replica A client');

  const renewed = await replicaB.call('POST', `/permits/${runId}/renew`, { leaseMs: 60_000 });
  assert.equal(renewed.status, 200, `renew on B: ${JSON.stringify(renewed.body)}`);
  assert.equal(renewed.body.leaseMs, 60_000);
  assert.ok(Date.parse(renewed.body.expiresAt) > Date.parse(acquired.body.expiresAt));

  const released = await replicaB.call('DELETE', `/permits/${runId}`);
  assert.equal(released.status, 204, `DELETE on B: ${JSON.stringify(released.body)}`);

  const onA = await replicaA.call('GET', `/permits/${runId}`);
  assert.equal(onA.status, 410);
  assert.equal(onA.body.state, 'released');
  // Released on B, so the slot is free on A straight away.
  const next = await replicaA.call('POST', `/resources/${resource}/acquire`);
  assert.equal(next.status, 201, JSON.stringify(next.body));
});

test('a release on one replica is seen at once by a status check on another', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('replicas-release');

  const acquired = await replicaA.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(acquired.status, 201);
  assert.equal((await replicaA.call('DELETE', `/permits/${acquired.body.runId}`)).status, 204);

  const onB = await replicaB.call('GET', `/permits/${acquired.body.runId}`);
  assert.equal(onB.status, 410, JSON.stringify(onB.body));
  assert.equal(onB.body.state, 'released');
});

test('capacity is shared across replicas: two holders on A and B fill a capacity-2 resource', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('replicas-cap2');

  const onA = await replicaA.call('POST', `/resources/${resource}/acquire`, { capacity: 2 });
  assert.equal(onA.status, 201);
  const onB = await replicaB.call('POST', `/resources/${resource}/acquire`, { capacity: 2 });
  assert.equal(onB.status, 201);
  assert.notEqual(onA.body.slot, onB.body.slot);

  for (const [name, replica] of [['A', replicaA], ['B', replicaB]] as const) {
    const third = await replica.call('POST', `/resources/${resource}/acquire`, { capacity: 2 });
    assert.equal(third.status, 409, `third acquire on ${name}: ${JSON.stringify(third.body)}`);
    assert.equal(third.body.error, 'resource_busy');
    assert.ok(third.headers['retry-after'], 'resource_busy carries Retry-After');
  }

  for (const replica of [replicaA, replicaB]) {
    const view = await replica.call('GET', `/resources/${resource}?capacity=2`);
    assert.equal(view.status, 200);
    assert.deepEqual(
      view.body.held.map((permit: { runId: string }) => permit.runId).sort(),
      [onA.body.runId, onB.body.runId].sort(),
    );
  }

  // A's permit released through B frees a slot for A.
  assert.equal((await replicaB.call('DELETE', `/permits/${onA.body.runId}`)).status, 204);
  const again = await replicaA.call('POST', `/resources/${resource}/acquire`, { capacity: 2 });
  assert.equal(again.status, 201, JSON.stringify(again.body));
  assert.equal(again.body.slot, onA.body.slot);
});

test('a waiter on one replica gets the slot promptly when another replica releases it', async (t) => {
  const replicaA = await startTestService(t);
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const resource = uniqueResource('replicas-wait');

  const held = await replicaA.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);

  const waiting = replicaB.call('POST', `/resources/${resource}/acquire`, { waitMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await replicaA.call('DELETE', `/permits/${held.body.runId}`)).status, 204);
  const releasedAt = Date.now();

  const granted = await waiting;
  const waitedMs = Date.now() - releasedAt;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.slot, held.body.slot);
  // B only learns of the release by retrying (backoff capped at 500 ms), so allow a few retries.
  assert.ok(waitedMs < 3_000, `the waiter on B got the slot ${waitedMs} ms after the release on A`);
});

test('a service started after the acquire, with no memory of it, can release the permit within 2 s', async (t) => {
  const first = await startTestService(t);
  const taskQueue = first.config.temporal.taskQueue;
  const resource = uniqueResource('restart');

  const acquired = await first.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(acquired.status, 201);
  await first.stop();

  const restarted = await startTestService(t, { TEMPORAL_TASK_QUEUE: taskQueue });
  const status = await restarted.call('GET', `/permits/${acquired.body.runId}`);
  assert.equal(status.status, 200, `GET after restart: ${JSON.stringify(status.body)}`);
  assert.equal(status.body.state, 'held');

  const busy = await restarted.call('POST', `/resources/${resource}/acquire`);
  assert.equal(busy.status, 409, 'the permit must survive the restart');

  const releaseStarted = Date.now();
  const released = await restarted.call('DELETE', `/permits/${acquired.body.runId}`);
  const releaseMs = Date.now() - releaseStarted;
  assert.equal(released.status, 204, `DELETE after restart: ${JSON.stringify(released.body)}`);
  assert.ok(releaseMs < 2_000, `release after restart took ${releaseMs} ms`);

  const next = await restarted.call('POST', `/resources/${resource}/acquire`);
  assert.equal(next.status, 201, JSON.stringify(next.body));
});

test('a release straight after a restart, without any status check first, answers within 2 s', async (t) => {
  const first = await startTestService(t);
  const taskQueue = first.config.temporal.taskQueue;
  const resource = uniqueResource('restart-release');

  const acquired = await first.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(acquired.status, 201);
  await first.stop();
  const restarted = await startTestService(t, { TEMPORAL_TASK_QUEUE: taskQueue });

  const releaseStarted = Date.now();
  const released = await restarted.call('DELETE', `/permits/${acquired.body.runId}`);
  const releaseMs = Date.now() - releaseStarted;
  assert.equal(released.status, 204, JSON.stringify(released.body));
  assert.ok(releaseMs < 2_000, `release after restart took ${releaseMs} ms`);
});
