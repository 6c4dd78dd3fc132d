import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestService, uniqueResource } from '../helpers/service.js';

test('a permit can be acquired, checked, renewed and released, and then reports released', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource();

  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { holder: 'lifecycle test', leaseMs: 5_000 });
  assert.equal(acquired.status, 201);
  const permit = acquired.body;
  assert.equal(permit.fencingToken, permit.runId);
  assert.equal(permit.workflowId, `permit:${resource}:0`);
  assert.equal(permit.capacity, 1);
  assert.equal(permit.holder, 'lifecycle test');
  assert.equal(Date.parse(permit.expiresAt) - Date.parse(permit.acquiredAt), 5_000);

  const status = await service.call('GET', `/permits/${permit.runId}`);
  assert.equal(status.status, 200);
  assert.equal(status.body.state, 'held');

  const renewed = await service.call('POST', `/permits/${permit.runId}/renew`, { leaseMs: 20_000 });
  assert.equal(renewed.status, 200);
  assert.equal(renewed.body.leaseMs, 20_000);
  assert.ok(Date.parse(renewed.body.expiresAt) > Date.parse(permit.expiresAt));

  const released = await service.call('DELETE', `/permits/${permit.runId}`);
  assert.equal(released.status, 204);

  const again = await service.call('DELETE', `/permits/${permit.runId}`);
  assert.equal(again.status, 410);
  assert.deepEqual(again.body, {
    error: 'permit_ended',
    message: `permit ${permit.runId} has already ended: released`,
    state: 'released',
  });
});
