import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { metric, until } from '../helpers/metrics.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

const startAttempts = async (service: TestService) =>
  (await metric(service, 'lock_slot_start_attempts_total{result="busy"}')) +
  (await metric(service, 'lock_slot_start_attempts_total{result="claimed"}'));

test('waiters on one replica are served in the order they arrived', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('fifo');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);

  const waiters = [];
  for (let i = 0; i < 5; i++) {
    waiters.push(service.call('POST', `/resources/${resource}/acquire`, { waitMs: 20_000, holder: `waiter-${i}` }));
    await until(async () => (await metric(service, 'lock_waiters')) === i + 1, `waiter ${i} is queued`);
  }

  const servedOrder: string[] = [];
  let runId = held.body.runId as string;
  for (const waiting of waiters) {
    assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
    const granted = await waiting;
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    servedOrder.push(granted.body.holder);
    runId = granted.body.runId;
  }
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
  assert.deepEqual(servedOrder, ['waiter-0', 'waiter-1', 'waiter-2', 'waiter-3', 'waiter-4']);
});

test('forty waiters on a held mutex cost a handful of Temporal calls, not forty pollers', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('crowd');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);

  const waiters = Array.from({ length: 40 }, () =>
    service.call('POST', `/resources/${resource}/acquire`, { waitMs: 6_000 }),
  );
  await until(async () => (await metric(service, 'lock_waiters')) === 40, 'all 40 wait');
  const before = await startAttempts(service);
  await sleep(3_000);
  const spent = (await startAttempts(service)) - before;
  const watches = await metric(service, 'lock_slot_watches');

  // Each waiter polling on its own would have made hundreds of start calls in these 3 seconds.
  assert.ok(spent <= 4, `waiting cost ${spent} start calls in 3 s`);
  assert.equal(watches, 1, 'one watch covers the mutex for every waiter');
  for (const answer of await Promise.all(waiters)) assert.equal(answer.status, 409);
  assert.equal(await metric(service, 'lock_waiters'), 0);
});

test('a try-once acquire does not take a slot ahead of the callers already waiting for it', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('no-barging');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  const waiting = service.call('POST', `/resources/${resource}/acquire`, { waitMs: 10_000, holder: 'queued' });
  await until(async () => (await metric(service, 'lock_waiters')) === 1, 'the waiter is queued');

  const before = await startAttempts(service);
  const barging = await service.call('POST', `/resources/${resource}/acquire`, { holder: 'newcomer' });
  assert.equal(barging.status, 409);
  assert.equal(barging.body.error, 'resource_busy');
  assert.equal((await startAttempts(service)) - before, 0, 'answered from the queue, without a Temporal call');

  assert.equal((await service.call('DELETE', `/permits/${held.body.runId}`)).status, 204);
  const granted = await waiting;
  assert.equal(granted.status, 201);
  assert.equal(granted.body.holder, 'queued');
});

test('past MAX_WAITERS_PER_RESOURCE a caller gets 503 too_many_waiters with Retry-After', async (t) => {
  const service = await startTestService(t, { MAX_WAITERS_PER_RESOURCE: '2' });
  const resource = uniqueResource('crowded');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  const waiters = [0, 1].map(() => service.call('POST', `/resources/${resource}/acquire`, { waitMs: 10_000 }));
  await until(async () => (await metric(service, 'lock_waiters')) === 2, 'two wait');

  const refused = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 10_000 });
  assert.equal(refused.status, 503);
  assert.equal(refused.body.error, 'too_many_waiters');
  assert.match(refused.body.message, /MAX_WAITERS_PER_RESOURCE/);
  assert.equal(refused.headers['retry-after'], '1');

  const other = await service.call('POST', `/resources/${uniqueResource('elsewhere')}/acquire`, { waitMs: 1_000 });
  assert.equal(other.status, 201, 'the cap is per resource');

  assert.equal((await service.call('DELETE', `/permits/${held.body.runId}`)).status, 204);
  const first = await Promise.race(waiters);
  assert.equal(first.status, 201);
  assert.equal((await service.call('DELETE', `/permits/${first.body.runId}`)).status, 204);
  for (const answer of await Promise.all(waiters)) assert.equal(answer.status, 201);
});

test('a slot released on one replica reaches a waiter on another through its watch, not its probe', async (t) => {
  const queue = `test-${randomUUID()}`;
  // A probe interval far beyond waitMs: only the watch on the held slot can deliver in time.
  const a = await startTestService(t, { TEMPORAL_TASK_QUEUE: queue, WAIT_PROBE_MS: '60000' });
  const b = await startTestService(t, { TEMPORAL_TASK_QUEUE: queue, WAIT_PROBE_MS: '60000' });
  const resource = uniqueResource('cross-replica');
  const held = await a.call('POST', `/resources/${resource}/acquire`, { capacity: 2, leaseMs: 30_000 });
  const other = await a.call('POST', `/resources/${resource}/acquire`, { capacity: 2, leaseMs: 30_000 });
  assert.equal(other.status, 201);

  const waiting = b.call('POST', `/resources/${resource}/acquire`, { capacity: 2, waitMs: 10_000, holder: 'on-b' });
  await until(async () => (await metric(b, 'lock_slot_watches')) === 2, 'b watches both held slots');
  assert.equal((await a.call('DELETE', `/permits/${held.body.runId}`)).status, 204);

  const granted = await waiting;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.slot, held.body.slot);
  assert.equal(await metric(b, 'lock_wait_passes_total{reason="probe"}'), 0);
});

test('a lease that runs out wakes a waiter on another replica through its watch', async (t) => {
  const queue = `test-${randomUUID()}`;
  const a = await startTestService(t, { TEMPORAL_TASK_QUEUE: queue, WAIT_PROBE_MS: '60000' });
  const b = await startTestService(t, { TEMPORAL_TASK_QUEUE: queue, WAIT_PROBE_MS: '60000' });
  const resource = uniqueResource('cross-expiry');
  const held = await a.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_500 });
  assert.equal(held.status, 201);

  const granted = await b.call('POST', `/resources/${resource}/acquire`, { waitMs: 10_000 });
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.ok(Date.now() >= Date.parse(held.body.expiresAt), 'not granted before the first lease ended');
  assert.equal((await a.call('GET', `/permits/${held.body.runId}`)).body.state, 'expired');
});

test('a caller that hangs up while waiting stops waiting and is never left holding the slot', async (t) => {
  const service = await startTestService(t, {}, { listen: true });
  const resource = uniqueResource('hang-up');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });

  const hangUp = new AbortController();
  const waiting = fetch(`${service.url}/resources/${resource}/acquire`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ waitMs: 20_000, holder: 'gone' }),
    signal: hangUp.signal,
  }).catch((error: unknown) => error);
  await until(async () => (await metric(service, 'lock_waiters')) === 1, 'the caller waits');
  hangUp.abort();
  assert.ok((await waiting) instanceof Error);
  await until(async () => (await metric(service, 'lock_waiters')) === 0, 'the wait ends with the connection');

  const startsBefore = await startAttempts(service);
  assert.equal((await service.call('DELETE', `/permits/${held.body.runId}`)).status, 204);
  // Read directly (capacity given), not from visibility, which may lag behind a start.
  const view = await service.call('GET', `/resources/${resource}?capacity=1`);
  assert.equal(view.body.consistency, 'strong');
  assert.deepEqual(view.body.held, [], 'nobody holds the slot the gone caller was waiting for');
  assert.equal(await startAttempts(service), startsBefore, 'no slot search was made for the gone caller');
  assert.equal(await metric(service, 'lock_acquire_total{outcome="aborted"}'), 1);
});
