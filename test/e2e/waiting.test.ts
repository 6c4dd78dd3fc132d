import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { untilWaiting } from '../helpers/metrics.js';
import { startTestService, uniqueResource } from '../helpers/service.js';

test('a waiter on a held mutex gets the released slot promptly after the holder releases it', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wait-release');

  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);

  const waiting = service.call('POST', `/resources/${resource}/acquire`, { waitMs: 5_000, holder: 'waiter' });
  await untilWaiting(service, 1);
  assert.equal((await service.call('DELETE', `/permits/${held.body.runId}`)).status, 204);
  const releasedAt = Date.now();

  const granted = await waiting;
  const waitedMs = Date.now() - releasedAt;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.slot, held.body.slot);
  assert.equal(granted.body.holder, 'waiter');
  assert.notEqual(granted.body.runId, held.body.runId);
  assert.ok(waitedMs < 3_000, `the waiter got the slot ${waitedMs} ms after the release`);
});

test('a waiter on a full capacity-3 resource gets exactly the slot that was released', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wait-cap3');

  const holders = [];
  for (let i = 0; i < 3; i++) {
    const held = await service.call('POST', `/resources/${resource}/acquire`, { capacity: 3, leaseMs: 30_000 });
    assert.equal(held.status, 201);
    holders.push(held.body);
  }
  const released = holders[1]!;

  const waiting = service.call('POST', `/resources/${resource}/acquire`, { capacity: 3, waitMs: 5_000 });
  await untilWaiting(service, 1);
  assert.equal((await service.call('DELETE', `/permits/${released.runId}`)).status, 204);

  const granted = await waiting;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.slot, released.slot);
  for (const other of [holders[0]!, holders[2]!]) {
    assert.equal((await service.call('GET', `/permits/${other.runId}`)).status, 200);
  }
});

test('a waiter on a mutex held throughout gives up with 409 and Retry-After after about waitMs', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wait-timeout');

  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);

  const startedAt = Date.now();
  const refused = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 1_000 });
  const elapsedMs = Date.now() - startedAt;
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.error, 'resource_busy');
  assert.match(refused.body.message, /waitMs/);
  const retryAfter = Number(refused.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After is ${refused.headers['retry-after']}`);
  assert.ok(elapsedMs >= 900 && elapsedMs < 3_000, `the refusal came after ${elapsedMs} ms for waitMs 1000`);

  const status = await service.call('GET', `/permits/${held.body.runId}`);
  assert.equal(status.status, 200, 'waiting must not disturb the holder');
});

test('a waiter gets the slot when the holder lets its lease run out, not before', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wait-expiry');

  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(held.status, 201);

  const granted = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 15_000, leaseMs: 30_000 });
  const answeredAtMs = Date.now();
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.slot, held.body.slot);
  assert.ok(
    answeredAtMs >= Date.parse(held.body.expiresAt),
    `the waiter got the slot at ${new Date(answeredAtMs).toISOString()}, before the holder's expiresAt ${held.body.expiresAt}`,
  );

  const old = await service.call('GET', `/permits/${held.body.runId}`);
  assert.equal(old.status, 410);
  assert.equal(old.body.state, 'expired');
});

test('several waiters on a mutex are each served once as holders release in turn', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wait-queue');

  const first = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(first.status, 201);

  let holding = 0;
  const waiter = async () => {
    const granted = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 20_000, leaseMs: 30_000 });
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    holding++;
    assert.equal(holding, 1, 'two waiters held the mutex at once');
    await sleep(100);
    holding--;
    assert.equal((await service.call('DELETE', `/permits/${granted.body.runId}`)).status, 204);
    return granted.body.runId as string;
  };
  const waiters = Array.from({ length: 4 }, waiter);
  await untilWaiting(service, 4);
  assert.equal((await service.call('DELETE', `/permits/${first.body.runId}`)).status, 204);

  const runIds = await Promise.all(waiters);
  assert.equal(new Set([first.body.runId, ...runIds]).size, 5);
});
