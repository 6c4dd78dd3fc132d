import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockClient, PermitKeeper } from '../../packages/client/src/client/index.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startListeningService, type ListeningService } from '../helpers/listening-service.js';
import { http } from '../helpers/process.js';
import { until } from '../helpers/metrics.js';
import { uniqueResource } from '../helpers/service.js';

// The service counts a lease from before it starts the permit's run. A client that counts it from
// when the answer arrived believes it holds the permit for as long as the answer took: too long.
// Client, service and test share one machine, so their clocks are the same clock.

let service: ListeningService;
before(async () => {
  service = await startListeningService(undefined);
});
after(() => service?.stop());

async function waiters(): Promise<number> {
  const text = String((await http('GET', `${service.url}/metrics`)).body);
  const line = text.split('\n').find((candidate) => candidate.startsWith('lock_waiters '));
  return line ? Number(line.slice('lock_waiters '.length)) : 0;
}

test('with a slow answer to the acquire, the keeper\'s first lease ends no later than the service\'s expiresAt', async (t) => {
  const proxy = await startFaultProxy(t, new URL(service.url).host);
  // Every byte between client and service is held back a second: the request arrives late, and its 201 too.
  proxy.setDelay(1_000);
  const client = new LockClient({ url: proxy.url });
  const permit = await client.acquire(uniqueResource('slow-answer'), { leaseMs: 10_000 });
  proxy.setDelay(0);
  const keeper = new PermitKeeper(client, permit);
  const expiresAtMs = Date.parse(permit.expiresAt);
  assert.ok(
    keeper.heldUntil <= expiresAtMs,
    `the keeper counts the lease until ${new Date(keeper.heldUntil).toISOString()}, ${keeper.heldUntil - expiresAtMs} ms after the service's expiresAt ${permit.expiresAt}`,
  );
  // Early by the request's own delay at most, not by more.
  assert.ok(expiresAtMs - keeper.heldUntil < 2_500, `${expiresAtMs - keeper.heldUntil} ms early`);
  await client.release(permit.runId);
});

test('after waiting on the service for a slot, the keeper counts the lease from when the wait ended, not from when the request was sent', async () => {
  const client = new LockClient({ url: service.url });
  const resource = uniqueResource('waited');
  const held = await client.acquire(resource, { leaseMs: 30_000 });
  const sentAtMs = Date.now();
  const waiting = client.acquire(resource, { leaseMs: 5_000, waitMs: 20_000 });
  await until(async () => (await waiters()) === 1, 'the second acquire waits on the service');
  // The wait this test is about: two seconds longer than the request's own round trip.
  await sleep(2_000);
  const releaseSentAtMs = Date.now();
  await client.release(held.runId);
  const permit = await waiting;

  const expiresAtMs = Date.parse(permit.expiresAt);
  const keeper = new PermitKeeper(client, permit);
  assert.ok(keeper.heldUntil <= expiresAtMs, `${keeper.heldUntil - expiresAtMs} ms after the service's expiresAt`);
  assert.ok(expiresAtMs - keeper.heldUntil < 1_000, `${expiresAtMs - keeper.heldUntil} ms early: the wait was counted as lease`);
  const leaseFromMs = client.leaseCountedFrom(permit);
  assert.ok(leaseFromMs !== undefined, 'the client knows when the lease of the permit it acquired began');
  assert.ok(leaseFromMs >= releaseSentAtMs - 250, `the lease counts from ${leaseFromMs - sentAtMs} ms after the request, before the slot was freed`);
  await client.release(permit.runId);
});

test('an acquire answer says how long the service had the request before the lease began', async () => {
  const resource = uniqueResource('waited-ms');
  const once = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(once.status, 201, JSON.stringify(once.body));
  assert.ok(Number.isInteger(once.body.waitedMs) && once.body.waitedMs >= 0 && once.body.waitedMs <= once.ms, `waitedMs ${once.body.waitedMs}`);

  const sentAtMs = Date.now();
  const waiting = http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 30_000, waitMs: 20_000 });
  await until(async () => (await waiters()) === 1, 'the second acquire waits on the service');
  await sleep(1_000); // the wait this test is about
  const releaseSentAtMs = Date.now();
  assert.equal((await http('DELETE', `${service.url}/permits/${once.body.runId}`)).status, 204);
  const granted = await waiting;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  const waitedMs = granted.body.waitedMs;
  assert.ok(waitedMs >= releaseSentAtMs - sentAtMs - 250, `waitedMs ${waitedMs}, but the slot was freed ${releaseSentAtMs - sentAtMs} ms after the request was sent`);
  assert.ok(waitedMs <= granted.ms, `waitedMs ${waitedMs} is longer than the whole request (${granted.ms} ms)`);
  await http('DELETE', `${service.url}/permits/${granted.body.runId}`);
});
