import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';
import { until } from '../helpers/metrics.js';

// GET /resources/{resource}/history against a real Temporal server: every way a permit ends, paging,
// and the claims nobody held left out.

async function history(service: TestService, resource: string, query = ''): Promise<any> {
  const answer = await service.call('GET', `/resources/${resource}/history${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** Visibility follows closes a moment later: waits until the history holds `count` permits. */
async function untilHistory(service: TestService, resource: string, count: number): Promise<any> {
  let page: any;
  await until(async () => {
    page = await history(service, resource, '?limit=100');
    return page.entries.length >= count;
  }, `the history of ${resource} holds ${count} permit(s)`);
  return page;
}

test('the history lists past permits newest first with how each ended, its holder, renewals and times, and leaves out claims nobody held', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('history');
  const acquire = (body: object) => service.call('POST', `/resources/${resource}/acquire`, body);

  const released = (await acquire({ holder: 'alice', leaseMs: 30_000 })).body;
  await service.call('POST', `/permits/${released.runId}/renew`, {});
  await service.call('POST', `/permits/${released.runId}/renew`, { leaseMs: 20_000 });
  assert.equal((await service.call('DELETE', `/permits/${released.runId}`)).status, 204);

  const expired = (await acquire({ holder: 'bob', leaseMs: 1_000 })).body;
  await until(async () => (await service.call('GET', `/permits/${expired.runId}`)).status === 410, 'the 1 s lease ran out');
  // Its run closes when the worker fires the lease timer; the next acquire finds the slot free then.
  let terminated: any;
  await until(async () => {
    terminated = await acquire({ holder: 'carol', leaseMs: 30_000 });
    return terminated.status === 201;
  }, 'the expired permit\'s slot is free');
  await service.client.workflow.getHandle(terminated.body.workflowId, terminated.body.runId).terminate('ended by an operator in the Temporal UI');

  // A claim answered too late to deliver: its run was ended before anyone heard of it.
  const undelivered = (await acquire({ holder: 'nobody' })).body;
  await service.client.workflow
    .getHandle(undelivered.workflowId, undelivered.runId)
    .terminate('not delivered: the start was answered with 3 ms of its 30000 ms lease left (a test)');
  const last = (await acquire({ holder: 'dave' })).body;
  await service.call('DELETE', `/permits/${last.runId}`);

  const page = await untilHistory(service, resource, 4);
  assert.equal(page.consistency, 'eventual');
  assert.equal(page.nextBefore, null);
  assert.deepEqual(
    page.entries.map((entry: any) => [entry.holder, entry.outcome]),
    [
      ['dave', 'released'],
      ['carol', 'terminated'],
      ['bob', 'expired'],
      ['alice', 'released'],
    ],
  );
  const [dave, carol, bob, alice] = page.entries;
  assert.equal(alice.runId, released.runId);
  assert.equal(alice.renewals, 2);
  assert.equal(alice.leaseMs, 20_000, 'the lease length last granted');
  assert.equal(bob.renewals, 0);
  assert.match(alice.reason, /^released through the lock service API \(release [0-9a-f-]{36}\)$/);
  assert.equal(carol.reason, 'ended by an operator in the Temporal UI');
  assert.equal(bob.reason, null, 'an expiry completed by the workflow has no terminate reason');
  for (const entry of page.entries) {
    assert.equal(entry.resource, resource);
    assert.equal(entry.slot, 0);
    assert.equal(entry.workflowId, `permit:${resource}:0`);
    assert.equal(entry.heldMs, Date.parse(entry.endedAt) - Date.parse(entry.acquiredAt));
    assert.ok(entry.heldMs >= 0);
    assert.equal(entry.temporalUiUrl, null, 'no Temporal UI is known to this service');
  }
  assert.ok(bob.heldMs >= 1_000, `the expired permit was held for its whole lease (${bob.heldMs} ms)`);
  // Newest first, and never two permits of one slot at once.
  for (let index = 1; index < page.entries.length; index++) {
    const newer = page.entries[index - 1];
    const older = page.entries[index];
    assert.ok(newer.endedAt >= older.endedAt);
    assert.ok(Date.parse(newer.acquiredAt) >= Date.parse(older.endedAt), `${newer.holder} was granted after ${older.holder} ended`);
  }
  assert.ok(!page.entries.some((entry: any) => entry.runId === undelivered.runId), 'the undelivered claim is left out');
  assert.equal(dave.runId, last.runId);
});

test('a permit that reaches MAX_HOLD_MS with no worker to end it is recorded as max_hold', async (t) => {
  // An API-only replica runs no worker, so no lease timer fires and Temporal's execution timeout ends the run.
  const service = await startTestService(t, { SERVICE_ROLE: 'api', MAX_HOLD_MS: '1500', MAX_LEASE_MS: '1500', DEFAULT_LEASE_MS: '1000' });
  const resource = uniqueResource('max-hold');
  const permit = (await service.call('POST', `/resources/${resource}/acquire`, { holder: 'stuck' })).body;
  const page = await untilHistory(service, resource, 1);
  assert.deepEqual(
    page.entries.map((entry: any) => [entry.runId, entry.outcome, entry.holder]),
    [[permit.runId, 'max_hold', 'stuck']],
  );
});

test('paging with nextBefore walks the whole history once, newest first, and links runs to the Temporal Web UI', async (t) => {
  const service = await startTestService(t, { TEMPORAL_UI_URL: 'http://temporal-ui.example:8080/', TEMPORAL_NAMESPACE: 'default' });
  const resource = uniqueResource('paging');
  const runIds: string[] = [];
  for (let index = 0; index < 5; index++) {
    const permit = (await service.call('POST', `/resources/${resource}/acquire`, { capacity: 2, holder: `h${index}` })).body;
    runIds.push(permit.runId);
    assert.equal((await service.call('DELETE', `/permits/${permit.runId}`)).status, 204);
  }
  await untilHistory(service, resource, 5);

  const seen: string[] = [];
  let before: string | null = null;
  let pages = 0;
  do {
    const page: any = await history(service, resource, `?limit=2${before ? `&before=${encodeURIComponent(before)}` : ''}`);
    assert.ok(page.entries.length <= 2);
    seen.push(...page.entries.map((entry: any) => entry.runId));
    before = page.nextBefore;
    pages++;
  } while (before && pages < 10);
  assert.deepEqual(seen, [...runIds].reverse(), 'every permit once, newest first');
  assert.equal(pages, 3);

  const [newest] = (await history(service, resource, '?limit=1')).entries;
  assert.equal(
    newest.temporalUiUrl,
    `http://temporal-ui.example:8080/namespaces/default/workflows/${encodeURIComponent(newest.workflowId)}/${newest.runId}`,
  );
});

test('bad history and listing parameters get 400 naming the parameter', async (t) => {
  const service = await startTestService(t);
  for (const [url, field] of [
    ['/resources/r/history?limit=0', 'querystring.limit'],
    ['/resources/r/history?limit=101', 'querystring.limit'],
    ['/resources/r/history?limit=ten', 'querystring.limit'],
    ['/resources/r/history?before=yesterday', 'querystring.before'],
    ['/resources/r/history?before=2026-13-01T00:00:00Z', 'querystring.before'],
    ["/resources/r/history?before=2026-12-01T00:00:00Z'%20OR%20'1'='1", 'querystring.before'],
    ['/resources/r/history?page=2', 'querystring'],
    ['/resources/bad:name/history', 'params.resource'],
    ['/resources?limit=501', 'querystring.limit'],
    ["/resources?prefix=a'b", 'querystring.prefix'],
    ['/resources?cursor=:x', 'querystring.cursor'],
  ] as const) {
    const answer = await service.call('GET', url);
    assert.equal(answer.status, 400, `${url}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, 'invalid_request');
    assert.ok(answer.body.message.startsWith(field), `${url}: ${answer.body.message}`);
  }
});

test('under contention on two slots, the history pages through every grant once and never shows two holders of one slot at once', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('contended');
  const granted: string[] = [];
  // Six callers wait for two slots: each freed slot goes to a waiter whose start was sent before
  // the slot was free, the case where Temporal may stamp a start before the predecessor's close.
  await Promise.all(
    Array.from({ length: 6 }, async (_, caller) => {
      for (let round = 0; round < 5; round++) {
        const answer = await service.call('POST', `/resources/${resource}/acquire`, { capacity: 2, waitMs: 30_000, holder: `caller-${caller}` });
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        granted.push(answer.body.runId);
        assert.equal((await service.call('DELETE', `/permits/${answer.body.runId}`)).status, 204);
      }
    }),
  );
  await untilHistory(service, resource, granted.length);

  // Small pages: each one reads the predecessors of its oldest entries with a query over both slots.
  const entries: any[] = [];
  let before: string | null = null;
  do {
    const page: any = await history(service, resource, `?limit=7${before ? `&before=${encodeURIComponent(before)}` : ''}`);
    entries.push(...page.entries);
    before = page.nextBefore;
  } while (before);
  assert.deepEqual(entries.map((entry) => entry.runId).sort(), [...granted].sort(), 'every grant once');
  for (const slot of [0, 1]) {
    const ofSlot = entries.filter((entry) => entry.slot === slot);
    assert.ok(ofSlot.length > 0, `slot ${slot} was used`);
    for (let index = 1; index < ofSlot.length; index++) {
      const [newer, older] = [ofSlot[index - 1], ofSlot[index]];
      assert.ok(Date.parse(newer.acquiredAt) >= Date.parse(older.endedAt), `slot ${slot}: ${newer.runId} granted after ${older.runId} ended`);
      assert.equal(newer.outcome, 'released');
    }
  }
});

test('newest first means by end: a long hold that started first and ended last is listed first, and paging keeps that order', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('by-end');
  const long = (await service.call('POST', `/resources/${resource}/acquire`, { capacity: 3, holder: 'long' })).body;
  const short = (await service.call('POST', `/resources/${resource}/acquire`, { capacity: 3, holder: 'short' })).body;
  const shorter = (await service.call('POST', `/resources/${resource}/acquire`, { capacity: 3, holder: 'shorter' })).body;
  await service.call('DELETE', `/permits/${short.runId}`);
  await service.call('DELETE', `/permits/${shorter.runId}`);
  await service.call('DELETE', `/permits/${long.runId}`);
  await untilHistory(service, resource, 3);

  const holders: string[] = [];
  let before: string | null = null;
  do {
    const page: any = await history(service, resource, `?limit=1${before ? `&before=${encodeURIComponent(before)}` : ''}`);
    holders.push(...page.entries.map((entry: any) => entry.holder));
    before = page.nextBefore;
  } while (before && holders.length < 10);
  assert.deepEqual(holders, ['long', 'shorter', 'short']);
});
