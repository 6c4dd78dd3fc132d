import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { startTestService, uniqueResource, type TestResponse } from '../helpers/service.js';
import { TARGET_URL, callUrl, ownServiceNeeded } from '../helpers/target-url.js';

// The HTTP contract, black-box: against a service of its own (app.inject), or, with LOCK_TEST_URL,
// against one already running there, such as `npm run cluster`'s load balancer. That one must
// configure LOCK_TEST_CONFIGURED_RESOURCE (default gpu-pool, as `npm run cluster` does) with capacity 3.
const configured = TARGET_URL ? (process.env.LOCK_TEST_CONFIGURED_RESOURCE ?? 'gpu-pool') : uniqueResource('configured');

interface Target {
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  stop(): Promise<void>;
}

let service: Target;

before(async () => {
  if (TARGET_URL) {
    service = { call: (method, url, body, headers) => callUrl(TARGET_URL!, method, url, body, headers), stop: async () => undefined };
    return;
  }
  // One service for the whole file (a worker per test would only cost time); every test uses its own resources.
  service = await startTestService(undefined, {
    RESOURCE_CAPACITIES: `${configured}=3`,
    // An unknown runId is looked up in visibility until this runs out; the tests need no long wait.
    VISIBILITY_LOOKUP_WAIT_MS: '300',
  });
});
after(() => service?.stop());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNKNOWN_RUN_ID = '00000000-0000-4000-8000-000000000000';

function assertIsoTime(value: unknown, field: string): number {
  assert.equal(typeof value, 'string', `${field} is a string`);
  assert.equal(new Date(value as string).toISOString(), value, `${field} is an ISO-8601 UTC time`);
  return Date.parse(value as string);
}

/** Checks every field of a permit as acquire, renew and status return it. */
function assertPermit(
  body: any,
  expected: { resource: string; capacity: number; leaseMs: number; holder: string | null },
): void {
  assert.match(body.runId, UUID);
  assert.equal(body.fencingToken, body.runId);
  assert.match(body.fencingSeq, /^[1-9][0-9]*$/, 'the fencing number is a decimal string');
  assert.equal(body.resource, expected.resource);
  assert.equal(body.capacity, expected.capacity);
  assert.ok(Number.isInteger(body.slot) && body.slot >= 0 && body.slot < expected.capacity, `slot ${body.slot}`);
  assert.equal(body.workflowId, `permit:${expected.resource}:${body.slot}`);
  assert.equal(body.leaseMs, expected.leaseMs);
  assert.equal(body.holder, expected.holder);
  assertIsoTime(body.acquiredAt, 'acquiredAt');
  assertIsoTime(body.expiresAt, 'expiresAt');
}

function assertError(response: TestResponse, status: number, error: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(String(response.headers['content-type']), /^application\/json/);
  assert.equal(response.body.error, error);
  assert.equal(typeof response.body.message, 'string');
  assert.ok(response.body.message.length > 0);
}

async function acquire(resource: string, body?: unknown): Promise<any> {
  const response = await service.call('POST', `/resources/${resource}/acquire`, body);
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body;
}

test('acquire answers 201 with every permit field, the fencing token equal to the runId', async () => {
  const resource = uniqueResource();
  const response = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 7_000, holder: 'worker-7' });
  assert.equal(response.status, 201);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(response.body).sort(), [
    'acquiredAt',
    'capacity',
    'expiresAt',
    'fencingSeq',
    'fencingToken',
    'holder',
    'leaseMs',
    'resource',
    'runId',
    'slot',
    'waitedMs',
    'workflowId',
  ]);
  assertPermit(response.body, { resource, capacity: 1, leaseMs: 7_000, holder: 'worker-7' });
  assert.ok(Number.isInteger(response.body.waitedMs) && response.body.waitedMs >= 0, `waitedMs ${response.body.waitedMs}`);
  assert.equal(response.body.slot, 0);
  assert.equal(Date.parse(response.body.expiresAt) - Date.parse(response.body.acquiredAt), 7_000);
  await service.call('DELETE', `/permits/${response.body.runId}`);
});

test('acquire without options uses a 30 s lease, capacity 1 and no holder', async () => {
  const resource = uniqueResource();
  const permit = await acquire(resource, { waitMs: 0 });
  assertPermit(permit, { resource, capacity: 1, leaseMs: 30_000, holder: null });
  assert.equal(Date.parse(permit.expiresAt) - Date.parse(permit.acquiredAt), 30_000);
  await service.call('DELETE', `/permits/${permit.runId}`);
});

test('acquire works with no body at all and with a JSON content type and an empty body', async () => {
  // What `curl -X POST` and `curl -X POST -H 'content-type: application/json'` send.
  const bare = uniqueResource();
  const noBody = await service.call('POST', `/resources/${bare}/acquire`);
  assert.equal(noBody.status, 201, JSON.stringify(noBody.body));
  assertPermit(noBody.body, { resource: bare, capacity: 1, leaseMs: 30_000, holder: null });

  const typed = uniqueResource();
  const emptyBody = await service.call('POST', `/resources/${typed}/acquire`, '', { 'content-type': 'application/json' });
  assert.equal(emptyBody.status, 201, JSON.stringify(emptyBody.body));
  assertPermit(emptyBody.body, { resource: typed, capacity: 1, leaseMs: 30_000, holder: null });

  await service.call('DELETE', `/permits/${noBody.body.runId}`);
  await service.call('DELETE', `/permits/${emptyBody.body.runId}`);
});

test('a full resource answers 409 resource_busy with a Retry-After header', async () => {
  const resource = uniqueResource();
  const holder = await acquire(resource);
  const busy = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 0 });
  assertError(busy, 409, 'resource_busy');
  assert.ok(busy.body.message.includes(resource), busy.body.message);
  const retryAfter = String(busy.headers['retry-after']);
  assert.match(retryAfter, /^\d+$/, 'Retry-After is a whole number of seconds');
  assert.ok(Number(retryAfter) >= 1);
  await service.call('DELETE', `/permits/${holder.runId}`);
});

test('capacity N hands out N distinct slots and then reports busy', async () => {
  const resource = uniqueResource();
  const permits = [];
  for (let i = 0; i < 3; i++) permits.push(await acquire(resource, { capacity: 3 }));
  for (const permit of permits) assertPermit(permit, { resource, capacity: 3, leaseMs: 30_000, holder: null });
  assert.deepEqual(permits.map((permit) => permit.slot).sort(), [0, 1, 2]);
  assert.equal(new Set(permits.map((permit) => permit.runId)).size, 3);
  assertError(await service.call('POST', `/resources/${resource}/acquire`, { capacity: 3 }), 409, 'resource_busy');
  for (const permit of permits) await service.call('DELETE', `/permits/${permit.runId}`);
});

test('a configured capacity is used when the request names none, and a different one is refused', async () => {
  const conflict = await service.call('POST', `/resources/${configured}/acquire`, { capacity: 2 });
  assertError(conflict, 409, 'capacity_conflict');
  assert.match(conflict.body.message, /capacity/);
  assert.match(conflict.body.message, /3/);

  const permits = [await acquire(configured), await acquire(configured, { capacity: 3 }), await acquire(configured)];
  for (const permit of permits) assertPermit(permit, { resource: configured, capacity: 3, leaseMs: 30_000, holder: null });
  assert.deepEqual(permits.map((permit) => permit.slot).sort(), [0, 1, 2]);
  assertError(await service.call('POST', `/resources/${configured}/acquire`), 409, 'resource_busy');

  const view = await service.call('GET', `/resources/${configured}`);
  assert.equal(view.status, 200);
  assert.equal(view.body.capacity, 3);
  assert.equal(view.body.held.length, 3);
  for (const permit of permits) await service.call('DELETE', `/permits/${permit.runId}`);
});

test('GET /permits/:runId answers 200 with the permit and state held', async () => {
  const resource = uniqueResource();
  const permit = await acquire(resource, { holder: 'status check', leaseMs: 20_000 });
  const status = await service.call('GET', `/permits/${permit.runId}`);
  assert.equal(status.status, 200);
  assert.equal(status.body.state, 'held');
  assertPermit(status.body, { resource, capacity: 1, leaseMs: 20_000, holder: 'status check' });
  assert.equal(status.body.runId, permit.runId);
  assert.equal(status.body.slot, permit.slot);
  await service.call('DELETE', `/permits/${permit.runId}`);
});

test('an unknown but well-formed runId is 404 permit_not_found on GET, DELETE and renew', async () => {
  for (const [method, url] of [
    ['GET', `/permits/${UNKNOWN_RUN_ID}`],
    ['DELETE', `/permits/${UNKNOWN_RUN_ID}`],
    ['POST', `/permits/${UNKNOWN_RUN_ID}/renew`],
  ] as const) {
    const response = await service.call(method, url);
    assertError(response, 404, 'permit_not_found');
    assert.ok(response.body.message.includes(UNKNOWN_RUN_ID), response.body.message);
  }
});

test('a released permit is 410 permit_ended with state released on GET, DELETE and renew', async () => {
  const permit = await acquire(uniqueResource());
  const released = await service.call('DELETE', `/permits/${permit.runId}`);
  assert.equal(released.status, 204);
  assert.equal(released.headers['content-length'] ?? '0', '0');
  for (const [method, url] of [
    ['GET', `/permits/${permit.runId}`],
    ['DELETE', `/permits/${permit.runId}`],
    ['POST', `/permits/${permit.runId}/renew`],
  ] as const) {
    const response = await service.call(method, url);
    assertError(response, 410, 'permit_ended');
    assert.equal(response.body.state, 'released');
  }
});

test('renew without a leaseMs keeps the lease length the permit was acquired with', async () => {
  const resource = uniqueResource();
  const permit = await acquire(resource, { leaseMs: 8_000 });
  const sentAt = Date.now();
  const renewed = await service.call('POST', `/permits/${permit.runId}/renew`);
  const answeredAt = Date.now();
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.equal(renewed.body.state, 'held');
  assertPermit(renewed.body, { resource, capacity: 1, leaseMs: 8_000, holder: null });
  assert.equal(renewed.body.runId, permit.runId);
  // The new lease runs from the moment of the renewal, which lies between sending it and the answer.
  const expiresAt = Date.parse(renewed.body.expiresAt);
  assert.ok(expiresAt >= sentAt + 8_000 - 50 && expiresAt <= answeredAt + 8_000 + 50, renewed.body.expiresAt);

  const typedEmpty = await service.call('POST', `/permits/${permit.runId}/renew`, '', { 'content-type': 'application/json' });
  assert.equal(typedEmpty.status, 200, JSON.stringify(typedEmpty.body));
  assert.equal(typedEmpty.body.leaseMs, 8_000);
  await service.call('DELETE', `/permits/${permit.runId}`);
});

test('a renewal past the maximum hold time is refused with 409 max_hold_exceeded naming leaseMs', ownServiceNeeded('MAX_HOLD_MS=4000'), async (t) => {
  const limited = await startTestService(t, { MAX_HOLD_MS: '4000', MAX_LEASE_MS: '4000', DEFAULT_LEASE_MS: '3000' });
  const acquired = await limited.call('POST', `/resources/${uniqueResource()}/acquire`);
  assert.equal(acquired.status, 201);
  assert.equal(acquired.body.leaseMs, 3_000);
  // Any time at all after the start, a 4 s lease reaches past the 4 s hold limit.
  await delay(100);
  const refused = await limited.call('POST', `/permits/${acquired.body.runId}/renew`, { leaseMs: 4_000 });
  assertError(refused, 409, 'max_hold_exceeded');
  assert.match(refused.body.message, /leaseMs/);

  // The refusal leaves the permit held.
  const status = await limited.call('GET', `/permits/${acquired.body.runId}`);
  assert.equal(status.status, 200);
  assert.equal(status.body.state, 'held');
  await limited.call('DELETE', `/permits/${acquired.body.runId}`);
});

test('GET /resources/:resource lists the held permits, and none after release', async () => {
  const resource = uniqueResource();
  const permits = [await acquire(resource, { capacity: 2, holder: 'a' }), await acquire(resource, { capacity: 2, holder: 'b' })];

  const view = await service.call('GET', `/resources/${resource}?capacity=2`);
  assert.equal(view.status, 200);
  assert.equal(view.body.resource, resource);
  assert.equal(view.body.capacity, 2);
  assert.equal(view.body.consistency, 'strong');
  assert.deepEqual(
    view.body.held.map((permit: any) => permit.runId).sort(),
    permits.map((permit) => permit.runId).sort(),
  );
  for (const held of view.body.held) {
    assertPermit(held, { resource, capacity: 2, leaseMs: 30_000, holder: held.holder });
  }
  assert.deepEqual(view.body.held.map((permit: any) => permit.holder).sort(), ['a', 'b']);

  for (const permit of permits) assert.equal((await service.call('DELETE', `/permits/${permit.runId}`)).status, 204);
  const empty = await service.call('GET', `/resources/${resource}?capacity=2`);
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body.held, []);
});

test('GET /resources/:resource of a configured resource needs no capacity parameter', async () => {
  const view = await service.call('GET', `/resources/${configured}`);
  assert.equal(view.status, 200);
  assert.equal(view.body.capacity, 3);
  assert.equal(view.body.consistency, 'strong');
  assert.ok(Array.isArray(view.body.held));
});

test('/healthz is 200 and /readyz reports Temporal reachable and the worker running', async () => {
  const health = await service.call('GET', '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { status: 'ok' });

  const ready = await service.call('GET', '/readyz');
  assert.equal(ready.status, 200);
  if (TARGET_URL) {
    // Behind a load balancer the answer comes from an api replica (no worker) or an all replica.
    const expected = ready.body.role === 'api' ? 'none' : 'RUNNING';
    assert.deepEqual(ready.body, { status: 'ready', role: ready.body.role, temporal: 'reachable', worker: expected });
    assert.ok(['all', 'api'].includes(ready.body.role), `role ${ready.body.role} serves the API`);
  } else {
    assert.deepEqual(ready.body, { status: 'ready', role: 'all', temporal: 'reachable', worker: 'RUNNING' });
  }
});

test('/metrics is Prometheus text that counts granted acquires', async () => {
  // Behind a load balancer each request may reach another replica: acquire until the replica that
  // answers /metrics is one that granted (at most a few rounds; every replica in rotation grants).
  let metrics: TestResponse | undefined;
  for (let round = 0; round < 6; round++) {
    const permit = await acquire(uniqueResource());
    await service.call('DELETE', `/permits/${permit.runId}`);
    metrics = await service.call('GET', '/metrics');
    if (/^lock_acquire_total\{outcome="granted"\} [1-9]/m.test(String(metrics.body))) break;
  }
  assert.ok(metrics);
  assert.equal(metrics.status, 200);
  assert.match(String(metrics.headers['content-type']), /^text\/plain/);
  const text = String(metrics.body);
  assert.match(text, /^# HELP lock_acquire_total /m);
  assert.match(text, /^# TYPE lock_acquire_total counter$/m);
  const granted = /^lock_acquire_total\{outcome="granted"\} (\d+)$/m.exec(text);
  assert.ok(granted, 'lock_acquire_total has a granted series');
  assert.ok(Number(granted[1]) >= 1);
  assert.match(text, /^lock_acquire_duration_seconds_bucket\{/m);
});

test('/openapi.json is an OpenAPI 3 document listing every route', async () => {
  const response = await service.call('GET', '/openapi.json');
  assert.equal(response.status, 200);
  const document = response.body;
  assert.match(document.openapi, /^3\./);
  assert.equal(typeof document.info?.title, 'string');
  const expected: Record<string, string[]> = {
    '/resources/{resource}/acquire': ['post'],
    '/resources/{resource}': ['get'],
    '/permits/{runId}': ['get', 'delete'],
    '/permits/{runId}/renew': ['post'],
    '/healthz': ['get'],
    '/readyz': ['get'],
    '/metrics': ['get'],
  };
  for (const [path, methods] of Object.entries(expected)) {
    assert.ok(document.paths?.[path], `${path} is documented`);
    for (const method of methods) assert.ok(document.paths[path][method], `${method.toUpperCase()} ${path} is documented`);
  }
});

test('/docs serves the API documentation', async () => {
  let response = await service.call('GET', '/docs');
  for (let hops = 0; hops < 3 && response.status >= 300 && response.status < 400; hops++) {
    const location = String(response.headers.location);
    response = await service.call('GET', new URL(location, 'http://localhost/docs/').pathname);
  }
  assert.equal(response.status, 200);
  assert.match(String(response.headers['content-type']), /text\/html/);
  assert.match(String(response.body), /swagger/i);
});

test('x-request-id is echoed when the caller sends one and generated otherwise', async () => {
  const given = await service.call('GET', '/healthz', undefined, { 'x-request-id': 'trace-4711.a_b' });
  assert.equal(given.headers['x-request-id'], 'trace-4711.a_b');

  const generated = await service.call('GET', '/healthz');
  assert.match(String(generated.headers['x-request-id']), UUID);
  const another = await service.call('GET', '/healthz');
  assert.notEqual(another.headers['x-request-id'], generated.headers['x-request-id']);

  // An id that could forge log lines is replaced, not echoed.
  const unsafe = await service.call('GET', '/healthz', undefined, { 'x-request-id': 'evil id\tinjected' });
  assert.match(String(unsafe.headers['x-request-id']), UUID);

  // Error answers carry it too, so a failed call can be found in the log.
  const missing = await service.call('GET', '/no-such-route', undefined, { 'x-request-id': 'trace-404' });
  assertError(missing, 404, 'not_found');
  assert.equal(missing.headers['x-request-id'], 'trace-404');
});
