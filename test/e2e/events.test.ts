import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openEventStream } from '../helpers/event-stream.js';
import { metric, until } from '../helpers/metrics.js';
import { startTestService, uniqueResource } from '../helpers/service.js';

// GET /events over real HTTP: this replica's own grants, renewals, releases and expiries at once,
// keep-alive comments, and another replica's changes through the periodic refresh from visibility.

test('the event stream sends this replica\'s grants, renewals, releases and expiries as they happen, with keep-alive comments', async (t) => {
  const service = await startTestService(t, { EVENTS_KEEPALIVE_MS: '1000', EVENTS_REFRESH_MS: '60000' }, { listen: true });
  const stream = await openEventStream(t, `${service.url}/events`);
  assert.equal(stream.status, 200);
  assert.match(stream.contentType ?? '', /^text\/event-stream/);
  const hello = await stream.next('hello', (event) => event.type === 'hello');
  assert.deepEqual(hello.data, { refreshMs: 60_000, keepAliveMs: 1_000, temporalUiWorkflowsUrl: null });
  await until(async () => (await metric(service, 'lock_event_streams')) === 1, 'the stream is subscribed');

  const resource = uniqueResource('events');
  const permit = (await service.call('POST', `/resources/${resource}/acquire`, { holder: 'ev-holder', leaseMs: 20_000 })).body;
  const granted = await stream.next('granted', (event) => event.type === 'granted' && event.data.permit.runId === permit.runId);
  assert.equal(granted.data.permit.holder, 'ev-holder');
  assert.equal(granted.data.permit.resource, resource);

  const renewed = (await service.call('POST', `/permits/${permit.runId}/renew`, { leaseMs: 30_000 })).body;
  const renewal = await stream.next('renewed', (event) => event.type === 'renewed' && event.data.permit.runId === permit.runId);
  assert.equal(renewal.data.permit.expiresAt, renewed.expiresAt);

  assert.equal((await service.call('DELETE', `/permits/${permit.runId}`)).status, 204);
  const released = await stream.next('released', (event) => event.type === 'released' && event.data.runId === permit.runId);
  assert.deepEqual({ ...released.data, at: undefined }, { at: undefined, runId: permit.runId, resource, slot: 0, holder: 'ev-holder' });

  // A permit left to expire is reported at its lease end.
  const short = (await service.call('POST', `/resources/${resource}/acquire`, { holder: 'short', leaseMs: 1_000 })).body;
  const expired = await stream.next('expired', (event) => event.type === 'expired' && event.data.runId === short.runId, 8_000);
  assert.equal(expired.data.holder, 'short');
  assert.ok(Date.parse(expired.data.at) >= Date.parse(short.expiresAt), 'not before its lease end');

  assert.match(await stream.nextComment(5_000), /^: keep-alive/);
  stream.close();
  await until(async () => (await metric(service, 'lock_event_streams')) === 0, 'the closed stream is unsubscribed');
});

test('another replica\'s grant and release show on this replica\'s stream through the refresh from visibility', async (t) => {
  const first = await startTestService(t, { EVENTS_REFRESH_MS: '500' }, { listen: true });
  const second = await startTestService(t, { TEMPORAL_TASK_QUEUE: first.config.temporal.taskQueue });
  const stream = await openEventStream(t, `${first.url}/events`);
  await stream.next('hello', (event) => event.type === 'hello');
  await until(async () => (await metric(first, 'lock_event_streams')) === 1, 'the stream is subscribed');
  const resource = uniqueResource('elsewhere');

  const permit = (await second.call('POST', `/resources/${resource}/acquire`, { holder: 'on-second' })).body;
  const appeared = await stream.next('a refresh naming the resource', (event) => event.type === 'refresh' && event.data.changed.includes(resource));
  assert.equal(appeared.data.complete, true);
  assert.ok(!stream.events.some((event) => event.type === 'granted'), 'a grant on another replica is no event of this one');

  await second.call('DELETE', `/permits/${permit.runId}`);
  const count = stream.events.length;
  await stream.next(
    'a later refresh naming the resource',
    (event) => event.type === 'refresh' && event.data.changed.includes(resource) && stream.events.indexOf(event) >= count,
  );
});

test('GET /resources lists the resources with holders by name, with capacity, holders, earliest expiry and this replica\'s waiters, page by page', async (t) => {
  const service = await startTestService(t);
  const prefix = uniqueResource('list');
  const names = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`];
  const expiries: string[] = [];
  for (const name of names) {
    const permit = (await service.call('POST', `/resources/${name}/acquire`, { capacity: 2, leaseMs: 30_000, holder: name })).body;
    expiries.push(permit.expiresAt);
  }
  const second = (await service.call('POST', `/resources/${names[1]}/acquire`, { capacity: 2, leaseMs: 60_000 })).body;
  const waiting = service.call('POST', `/resources/${names[2]}/acquire`, { capacity: 2, waitMs: 20_000 });
  void service.call('POST', `/resources/${names[2]}/acquire`, { capacity: 2, waitMs: 20_000 });
  await until(async () => (await metric(service, 'lock_waiters')) === 1, 'one acquire waits');
  // Not listed: another prefix.
  await service.call('POST', `/resources/${uniqueResource('other')}/acquire`, {});

  let listing: any;
  await until(async () => {
    listing = (await service.call('GET', `/resources?prefix=${prefix}`)).body;
    return listing.resources.reduce((sum: number, resource: any) => sum + resource.holders, 0) === 5;
  }, 'visibility lists the five holders');
  assert.equal(listing.consistency, 'eventual');
  assert.equal(listing.complete, true);
  assert.equal(listing.nextCursor, null);
  assert.deepEqual(
    listing.resources.map((resource: any) => [resource.resource, resource.capacity, resource.holders, resource.waitingHere]),
    [
      [names[0], 2, 1, 0],
      [names[1], 2, 2, 0],
      [names[2], 2, 2, 1],
    ],
  );
  // Visibility counts a lease from the run's start on the server, a few ms after the expiresAt the acquire reported.
  const earliest = Date.parse(listing.resources[1].earliestExpiresAt);
  assert.ok(earliest >= Date.parse(expiries[1]!) && earliest < Date.parse(expiries[1]!) + 1_000, 'the earlier of its two lease ends');
  assert.ok(earliest < Date.parse(second.expiresAt) - 20_000);

  const first = (await service.call('GET', `/resources?prefix=${prefix}&limit=2`)).body;
  assert.deepEqual(first.resources.map((resource: any) => resource.resource), names.slice(0, 2));
  assert.equal(first.nextCursor, names[1]);
  const rest = (await service.call('GET', `/resources?prefix=${prefix}&limit=2&cursor=${first.nextCursor}`)).body;
  assert.deepEqual(rest.resources.map((resource: any) => resource.resource), [names[2]]);
  assert.equal(rest.nextCursor, null);
  void waiting;
});

test('a service shutting down ends its open event streams instead of waiting for their clients', { timeout: 120_000 }, async (t) => {
  // A shutdown phase limit far beyond the test's timeout: a stream left open would hold stop() past it.
  const service = await startTestService(t, { SHUTDOWN_TIMEOUT_MS: '600000' }, { listen: true });
  const stream = await openEventStream(t, `${service.url}/events`);
  await stream.next('hello', (event) => event.type === 'hello');
  await service.stop();
  await stream.ended;
  const refused = await fetch(`${service.url}/events`).then(
    (answer) => answer.status,
    () => 'refused',
  );
  assert.equal(refused, 'refused', 'the server no longer listens');
});
