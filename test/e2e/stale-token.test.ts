import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

/** Every way a holder can use a token; each must be refused with 410 and the given end state. */
async function assertTokenEnded(service: TestService, runId: string, state: 'released' | 'expired') {
  const release = await service.call('DELETE', `/permits/${runId}`);
  assert.equal(release.status, 410, `DELETE: ${JSON.stringify(release.body)}`);
  assert.equal(release.body.error, 'permit_ended');
  assert.equal(release.body.state, state);

  const renew = await service.call('POST', `/permits/${runId}/renew`, { leaseMs: 30_000 });
  assert.equal(renew.status, 410, `renew: ${JSON.stringify(renew.body)}`);
  assert.equal(renew.body.error, 'permit_ended');
  assert.equal(renew.body.state, state);

  const status = await service.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 410, `GET: ${JSON.stringify(status.body)}`);
  assert.equal(status.body.error, 'permit_ended');
  assert.equal(status.body.state, state);
}

interface Snapshot {
  runId: string;
  slot: number;
  workflowId: string;
  expiresAt: string;
}

/** The current holder as the service reports it, to compare against after the stale token was used. */
async function snapshot(service: TestService, runId: string): Promise<Snapshot> {
  const status = await service.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
  return status.body;
}

async function assertStillHeld(service: TestService, before: Snapshot) {
  const status = await service.call('GET', `/permits/${before.runId}`);
  assert.equal(status.status, 200, `the current holder was disturbed: ${JSON.stringify(status.body)}`);
  assert.equal(status.body.state, 'held');
  assert.equal(status.body.slot, before.slot);
  assert.equal(status.body.workflowId, before.workflowId);
  assert.equal(status.body.expiresAt, before.expiresAt, "the stale renew moved the current holder's lease");
}

test('a released token cannot release, renew or vouch for the next holder of its slot', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('stale');

  const first = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(first.status, 201);
  assert.equal((await service.call('DELETE', `/permits/${first.body.runId}`)).status, 204);

  const second = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000, holder: 'current holder' });
  assert.equal(second.status, 201);
  assert.equal(second.body.workflowId, first.body.workflowId, 'the new holder should have the same slot (same workflow ID)');

  const current = await snapshot(service, second.body.runId);
  await assertTokenEnded(service, first.body.runId, 'released');
  await assertStillHeld(service, current);

  const busy = await service.call('POST', `/resources/${resource}/acquire`);
  assert.equal(busy.status, 409, 'the slot must still be taken by the current holder');
});

test('an expired token cannot release, renew or vouch for the holder who took its slot', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('stale-expired');

  const first = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(first.status, 201);
  const second = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000, waitMs: 15_000 });
  assert.equal(second.status, 201, JSON.stringify(second.body));
  assert.equal(second.body.slot, first.body.slot);

  const current = await snapshot(service, second.body.runId);
  await assertTokenEnded(service, first.body.runId, 'expired');
  await assertStillHeld(service, current);
});

test('a stale token presented to a replica that never saw it leaves the current holder alone', async (t) => {
  const replicaA = await startTestService(t);
  const resource = uniqueResource('stale-replica');

  const first = await replicaA.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(first.status, 201);
  assert.equal((await replicaA.call('DELETE', `/permits/${first.body.runId}`)).status, 204);
  const second = await replicaA.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(second.status, 201);

  // Replica B has no cache entry for either token, so it must resolve them through Temporal itself.
  const replicaB = await startTestService(t, { TEMPORAL_TASK_QUEUE: replicaA.config.temporal.taskQueue });
  const current = await snapshot(replicaA, second.body.runId);
  await assertTokenEnded(replicaB, first.body.runId, 'released');
  await assertStillHeld(replicaA, current);
  await assertStillHeld(replicaB, current);
});

test('a token for a permit on another resource never affects this resource', async (t) => {
  const service = await startTestService(t);
  const mine = uniqueResource('mine');
  const other = uniqueResource('other');

  const held = await service.call('POST', `/resources/${mine}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);
  const current = await snapshot(service, held.body.runId);
  const foreign = await service.call('POST', `/resources/${other}/acquire`, { leaseMs: 30_000 });
  assert.equal(foreign.status, 201);
  assert.equal(foreign.body.slot, held.body.slot, 'both permits are on slot 0 of their resource');

  const renewed = await service.call('POST', `/permits/${foreign.body.runId}/renew`, { leaseMs: 60_000 });
  assert.equal(renewed.status, 200);
  assert.equal(renewed.body.resource, other);
  assert.equal((await service.call('DELETE', `/permits/${foreign.body.runId}`)).status, 204);
  await assertTokenEnded(service, foreign.body.runId, 'released');

  await assertStillHeld(service, current);
  const view = await service.call('GET', `/resources/${mine}?capacity=1`);
  assert.deepEqual(
    view.body.held.map((permit: { runId: string }) => permit.runId),
    [held.body.runId],
  );
});

test('a token that never existed is refused with 404 and touches nobody', async (t) => {
  const service = await startTestService(t, { VISIBILITY_LOOKUP_WAIT_MS: '500' });
  const resource = uniqueResource('unknown-token');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);
  const current = await snapshot(service, held.body.runId);

  // Same shape as a Temporal runId (UUIDv7-like), but never issued.
  const unknown = '01a21f35-0000-7000-8000-000000000000';
  for (const [method, suffix] of [['DELETE', ''], ['POST', '/renew'], ['GET', '']] as const) {
    const answer = await service.call(method, `/permits/${unknown}${suffix}`, method === 'POST' ? {} : undefined);
    assert.equal(answer.status, 404, `${method} ${suffix}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, 'permit_not_found');
  }
  await assertStillHeld(service, current);
});
