import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PERMIT_WORKFLOW_TYPE } from '../../src/temporal/messages.js';
import { CLOSE_EVENT_ONLY } from '../../src/permits/close-record.js';
import { permitStartOptions } from '../../src/permits/permit-start.js';
import { writeKeyFile, type KeyFile } from '../helpers/api-keys.js';
import { startTestService, uniqueResource, type TestResponse, type TestService } from '../helpers/service.js';

// Who may do what, with API_KEYS_FILE set: every rule against the real service and Temporal server.

const LOOKUP_WAIT_MS = 1_000;
const UNKNOWN_RUN_ID = '00000000-0000-4000-8000-000000000000';

let keys: KeyFile;
let service: TestService;

before(async () => {
  keys = await writeKeyFile(undefined, [
    { name: 'root', role: 'admin' },
    { name: 'team-a', role: 'client', prefixes: ['team-a.'] },
    { name: 'team-a-ci', role: 'client', prefixes: ['team-a.'] },
    { name: 'team-b', role: 'client', prefixes: ['team-b.', 'shared-'] },
    { name: 'team-a-viewer', role: 'reader', prefixes: ['team-a.'] },
    { name: 'laptop', role: 'client', prefixes: ['*'], plain: true },
  ]);
  service = await startTestService(undefined, { API_KEYS_FILE: keys.file, VISIBILITY_LOOKUP_WAIT_MS: String(LOOKUP_WAIT_MS) });
});
after(async () => {
  await service?.stop();
  await keys?.remove();
});

const as = (name: string) => keys.auth(name);

async function acquire(name: string, resource: string, body: Record<string, unknown> = {}): Promise<any> {
  const answer = await service.call('POST', `/resources/${resource}/acquire`, body, as(name));
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

function assertError(answer: TestResponse, status: number, error: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error, error, JSON.stringify(answer.body));
  assert.equal(typeof answer.body.message, 'string');
}

test('no key, a malformed header or an unknown key gets 401, and the answer never repeats what was sent', async () => {
  const resource = `team-a.${uniqueResource()}`;
  const stranger = 'lsk_not-a-key-of-this-service-0123456789';
  for (const headers of [{}, { authorization: stranger }, { authorization: `Basic ${stranger}` }, { authorization: `Bearer ${stranger}` }] as Array<Record<string, string>>) {
    for (const [method, url] of [
      ['POST', `/resources/${resource}/acquire`],
      ['GET', `/resources/${resource}`],
      ['GET', `/permits/${UNKNOWN_RUN_ID}`],
      ['DELETE', `/permits/${UNKNOWN_RUN_ID}`],
      ['GET', '/keys'],
    ] as const) {
      const answer = await service.call(method, url, undefined, headers);
      assertError(answer, 401, 'unauthorized');
      assert.match(String(answer.headers['www-authenticate']), /^Bearer/);
      assert.ok(!JSON.stringify(answer.body).includes(stranger), 'the answer does not quote the key');
    }
  }
  // Health, readiness, metrics and the API document need no key.
  for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    assert.equal((await service.call('GET', url)).status, 200, url);
  }
});

test('a resource outside the key\'s prefixes gets 403, on acquire and on the resource view', async () => {
  const other = `team-b.${uniqueResource()}`;
  assertError(await service.call('POST', `/resources/${other}/acquire`, {}, as('team-a')), 403, 'forbidden');
  assertError(await service.call('GET', `/resources/${other}`, undefined, as('team-a')), 403, 'forbidden');
  // A key with several prefixes may use each; "*" (and an admin without prefixes) any resource.
  await acquire('team-b', other);
  await acquire('team-b', `shared-${uniqueResource()}`);
  await acquire('laptop', `team-a.${uniqueResource()}`);
  await acquire('root', `anything-${uniqueResource()}`);
});

test('a reader key may only read: 403 on acquire, renew and release, 200 on the view and the fencing check', async () => {
  const resource = `team-a.${uniqueResource()}`;
  assertError(await service.call('POST', `/resources/${resource}/acquire`, {}, as('team-a-viewer')), 403, 'forbidden');
  const permit = await acquire('team-a', resource);
  assertError(await service.call('POST', `/permits/${permit.runId}/renew`, {}, as('team-a-viewer')), 403, 'forbidden');
  assertError(await service.call('DELETE', `/permits/${permit.runId}`, undefined, as('team-a-viewer')), 403, 'forbidden');
  assert.equal((await service.call('GET', `/permits/${permit.runId}`, undefined, as('team-a-viewer'))).status, 200);
  const view = await service.call('GET', `/resources/${resource}`, undefined, as('team-a-viewer'));
  assert.equal(view.status, 200);
  assert.equal(view.body.held.length, 1);
  assert.equal(view.body.held[0].runId, undefined);
});

test('only the holder\'s key or an admin may release or renew; any other key gets the 404 of an unknown runId, no sooner', async () => {
  const resource = `team-a.${uniqueResource()}`;
  const permit = await acquire('team-a', resource, { leaseMs: 60_000 });
  const unknownRelease = await service.call('DELETE', `/permits/${UNKNOWN_RUN_ID}`, undefined, as('team-a-ci'));
  assertError(unknownRelease, 404, 'permit_not_found');
  const sameBody = (answer: TestResponse) => JSON.stringify(answer.body).replaceAll(permit.runId, UNKNOWN_RUN_ID);

  for (const [method, url, body] of [
    ['DELETE', `/permits/${permit.runId}`, undefined],
    ['POST', `/permits/${permit.runId}/renew`, {}],
  ] as const) {
    // Another key of the same tenant, a key of another tenant: both told "no such permit".
    for (const name of ['team-a-ci', 'team-b']) {
      const startedAt = performance.now();
      const refused = await service.call(method, url, body, as(name));
      const tookMs = performance.now() - startedAt;
      assertError(refused, 404, 'permit_not_found');
      assert.equal(sameBody(refused), JSON.stringify(unknownRelease.body), `${name} ${method}: the same answer as for an unknown runId`);
      // An unknown runId is answered only after the visibility lookup's wait; so is a refusal.
      assert.ok(tookMs >= LOOKUP_WAIT_MS - 50, `${name} ${method} answered after ${Math.round(tookMs)} ms, before the lookup wait`);
    }
  }
  // The fencing check stays open to any key allowed on the resource, and only to those.
  assert.equal((await service.call('GET', `/permits/${permit.runId}`, undefined, as('team-a-ci'))).status, 200);
  assertError(await service.call('GET', `/permits/${permit.runId}`, undefined, as('team-b')), 404, 'permit_not_found');

  // Still held: nothing above touched it. Its holder and an admin may renew; an admin may release.
  const renewed = await service.call('POST', `/permits/${permit.runId}/renew`, { leaseMs: 30_000 }, as('team-a'));
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.equal((await service.call('POST', `/permits/${permit.runId}/renew`, {}, as('root'))).status, 200);
  assert.equal((await service.call('DELETE', `/permits/${permit.runId}`, undefined, as('root'))).status, 204);

  const own = await acquire('team-a', resource);
  assert.equal((await service.call('DELETE', `/permits/${own.runId}`, undefined, as('team-a'))).status, 204);
});

test('a replica that did not grant the permit knows its holder too: the key is recorded in the run, not in memory', async () => {
  const resource = `team-a.${uniqueResource()}`;
  const other = await startTestService(undefined, {
    API_KEYS_FILE: keys.file,
    TEMPORAL_TASK_QUEUE: service.config.temporal.taskQueue,
    VISIBILITY_LOOKUP_WAIT_MS: '5000',
    SERVICE_ROLE: 'api',
  });
  try {
    const permit = await acquire('team-a', resource);
    // The key's name, never the key, is in the run's memo and in the workflow's input.
    const handle = service.client.workflow.getHandle(permit.workflowId, permit.runId);
    assert.equal((await handle.describe()).memo?.owner, 'team-a');
    const started = (await handle.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
    const input = JSON.parse(Buffer.from(started?.input?.payloads?.[0]?.data ?? []).toString('utf8'));
    assert.equal(input.owner, 'team-a');
    const recorded = JSON.stringify(started);
    for (const secret of Object.values(keys.keys)) assert.ok(!recorded.includes(secret));
    assertError(await other.call('DELETE', `/permits/${permit.runId}`, undefined, as('team-a-ci')), 404, 'permit_not_found');
    assert.equal((await other.call('DELETE', `/permits/${permit.runId}`, undefined, as('team-a'))).status, 204);
  } finally {
    await other.stop();
  }
});

test('a resource view shows each runId only to the key that holds it, and every runId to an admin', async () => {
  const resource = `team-a.${uniqueResource()}`;
  const mine = await acquire('team-a', resource, { capacity: 2 });
  const theirs = await acquire('team-a-ci', resource, { capacity: 2 });
  const tokensSeenBy = async (name: string) => {
    const view = await service.call('GET', `/resources/${resource}`, undefined, as(name));
    assert.equal(view.status, 200, JSON.stringify(view.body));
    assert.equal(view.body.held.length, 2);
    for (const holder of view.body.held) {
      assert.equal(holder.fencingToken, holder.runId);
      assert.ok(typeof holder.slot === 'number' && holder.acquiredAt && holder.expiresAt && 'holder' in holder);
    }
    return view.body.held.map((holder: any) => holder.runId).filter(Boolean).sort();
  };
  assert.deepEqual(await tokensSeenBy('team-a'), [mine.runId]);
  assert.deepEqual(await tokensSeenBy('team-a-ci'), [theirs.runId]);
  assert.deepEqual(await tokensSeenBy('team-a-viewer'), []);
  assert.deepEqual(await tokensSeenBy('root'), [mine.runId, theirs.runId].sort());
});

test('a permit with no key recorded (a workflow holder\'s, or one from before keys) may be released or renewed only by an admin', async () => {
  const resource = `team-a.${uniqueResource()}`;
  const { temporal, limits } = service.config;
  const handle = await service.client.workflow.start(
    PERMIT_WORKFLOW_TYPE,
    permitStartOptions({
      resource,
      slot: 0,
      capacity: 1,
      leaseMs: 60_000,
      maxHoldMs: limits.maxHoldMs,
      maxRenewals: limits.maxRenewals,
      holder: 'started without a key',
      taskQueue: temporal.taskQueue,
    }),
  );
  const runId = handle.firstExecutionRunId;
  assertError(await service.call('DELETE', `/permits/${runId}`, undefined, as('team-a')), 404, 'permit_not_found');
  assert.equal((await service.call('GET', `/permits/${runId}`, undefined, as('team-a'))).status, 200);
  assert.equal((await service.call('DELETE', `/permits/${runId}`, undefined, as('root'))).status, 204);
});

test('an admin force-releases any permit with a reason that the run\'s close record keeps; other keys get 403', async () => {
  const resource = `team-b.${uniqueResource()}`;
  const permit = await acquire('team-b', resource);
  const body = { reason: 'stuck deploy, ticket OPS-42' };
  assertError(await service.call('POST', `/permits/${permit.runId}/force-release`, body, as('team-b')), 403, 'forbidden');
  assertError(await service.call('POST', `/permits/${permit.runId}/force-release`, {}, as('root')), 400, 'invalid_request');
  assert.equal((await service.call('POST', `/permits/${permit.runId}/force-release`, body, as('root'))).status, 204);

  const status = await service.call('GET', `/permits/${permit.runId}`, undefined, as('team-b'));
  assertError(status, 410, 'permit_ended');
  assert.equal(status.body.state, 'released');
  const history = await service.client.workflowService.getWorkflowExecutionHistory({
    namespace: service.config.temporal.namespace,
    execution: { workflowId: permit.workflowId, runId: permit.runId },
    historyEventFilterType: CLOSE_EVENT_ONLY,
  });
  const reason = history.history?.events?.[0]?.workflowExecutionTerminatedEventAttributes?.reason ?? '';
  assert.match(reason, /^force-released by root: stuck deploy, ticket OPS-42 \(release [0-9a-f-]{36}\)$/);
  // The slot is free at once.
  await acquire('team-b', resource);
});

test('an admin sets a resource\'s capacity while nobody holds it; while anyone does, another capacity is refused naming the one in force', async () => {
  const resource = `team-a.${uniqueResource()}`;
  assertError(await service.call('PUT', `/resources/${resource}/capacity`, { capacity: 3 }, as('team-a')), 403, 'forbidden');
  const set = await service.call('PUT', `/resources/${resource}/capacity`, { capacity: 3 }, as('root'));
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual(set.body, { resource, capacity: 3 });
  const held = await acquire('team-a', resource);
  assert.equal(held.capacity, 3, 'an acquire naming no capacity takes the one the admin set');

  const refused = await service.call('PUT', `/resources/${resource}/capacity`, { capacity: 5 }, as('root'));
  assertError(refused, 409, 'capacity_conflict');
  assert.equal(refused.body.capacity, 3);
  assert.equal((await service.call('PUT', `/resources/${resource}/capacity`, { capacity: 3 }, as('root'))).status, 200);

  assert.equal((await service.call('DELETE', `/permits/${held.runId}`, undefined, as('team-a'))).status, 204);
  const changed = await service.call('PUT', `/resources/${resource}/capacity`, { capacity: 5 }, as('root'));
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  assert.equal((await acquire('team-a', resource)).capacity, 5);
  assertError(await service.call('POST', `/resources/${resource}/acquire`, { capacity: 3 }, as('team-a')), 409, 'capacity_conflict');
});

test('an admin lists the keys by name, role and prefixes, never a key or its hash; other keys get 403', async () => {
  assertError(await service.call('GET', '/keys', undefined, as('team-a')), 403, 'forbidden');
  const listed = await service.call('GET', '/keys', undefined, as('root'));
  assert.equal(listed.status, 200);
  assert.deepEqual(
    listed.body.keys.map((key: any) => `${key.name}:${key.role}:${key.prefixes.join('|')}`),
    ['laptop:client:*', 'root:admin:*', 'team-a:client:team-a.', 'team-a-ci:client:team-a.', 'team-a-viewer:reader:team-a.', 'team-b:client:team-b.|shared-'],
  );
  const text = JSON.stringify(listed.body);
  for (const secret of Object.values(keys.keys)) assert.ok(!text.includes(secret));
  assert.doesNotMatch(text, /[0-9a-f]{64}/);
});
