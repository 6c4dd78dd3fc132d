import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ERROR_CODES } from '../../src/permits/errors.js';
import { startTestService, uniqueResource, type TestResponse, type TestService } from '../helpers/service.js';

// Limits smaller than the defaults, so the tests also show that validation follows the configuration.
const MAX_LEASE_MS = 60_000;
const MAX_CAPACITY = 50;
const MAX_WAIT_MS = 10_000;

let service: TestService;
/** A permit held through the whole file, so renew and status have a real runId to be rejected on. */
let heldRunId: string;

before(async () => {
  service = await startTestService(undefined, {
    MAX_LEASE_MS: String(MAX_LEASE_MS),
    MAX_CAPACITY: String(MAX_CAPACITY),
    MAX_WAIT_MS: String(MAX_WAIT_MS),
    VISIBILITY_LOOKUP_WAIT_MS: '0',
  });
  const acquired = await service.call('POST', `/resources/${uniqueResource('held')}/acquire`);
  assert.equal(acquired.status, 201);
  heldRunId = acquired.body.runId;
});
after(() => service?.stop());

/** A 4xx JSON `{ error, message }` whose message names the field (when one is given); never a stack trace. */
function assertRefused(response: TestResponse, status: number, error: string, field?: string): void {
  const shown = JSON.stringify(response.body).slice(0, 300);
  assert.equal(response.status, status, shown);
  assert.match(String(response.headers['content-type']), /^application\/json/, shown);
  assert.equal(response.body.error, error, shown);
  assert.equal(typeof response.body.message, 'string', shown);
  assert.ok(response.body.message.length > 0);
  assert.ok(!/\bat .+:\d+:\d+/.test(response.body.message), `no stack trace in ${shown}`);
  if (field) assert.ok(response.body.message.includes(field), `message should name ${field}: ${response.body.message}`);
}

const acquireOn = (resource: string, body?: unknown) => service.call('POST', `/resources/${resource}/acquire`, body);

test('resource names outside the documented charset or length are refused with 400 naming the resource', async () => {
  const names = [
    'a:b',
    'a%3Ab',
    'r'.repeat(129),
    '%20',
    '-leading-dash',
    '.hidden',
    '_under',
    'caf%C3%A9',
    encodeURIComponent('锁'),
    'a%2Fb',
    'a%20b',
    'a%00b',
    'a+b',
    encodeURIComponent("x' OR '1'='1"),
  ];
  // Collected rather than asserted one by one, so a failure lists every name that got through.
  const problems: string[] = [];
  for (const name of names) {
    for (const [method, url] of [
      ['POST', `/resources/${name}/acquire`],
      ['GET', `/resources/${name}`],
    ] as const) {
      try {
        assertRefused(await service.call(method, url), 400, 'invalid_request', 'resource');
      } catch (error) {
        problems.push(`${method} ${url.slice(0, 50)}: ${(error as Error).message.split('\n')[0]!.slice(0, 160)}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('an empty resource name is refused, not routed to another endpoint', async () => {
  const response = await acquireOn('');
  assert.ok(response.status === 400 || response.status === 404, JSON.stringify(response.body));
  assertRefused(response, response.status, response.status === 400 ? 'invalid_request' : 'not_found');
});

test('a far too long name or a broken percent-encoding in the path is a 4xx JSON error, not a router default', async () => {
  // These fail in the router, before any schema runs; they must still get the API's error shape.
  const problems: string[] = [];
  for (const [method, url] of [
    ['POST', `/resources/${'r'.repeat(2_000)}/acquire`],
    ['POST', '/resources/%E0%A4%A/acquire'],
    ['GET', '/permits/%zz'],
  ] as const) {
    const response = await service.call(method, url);
    const ok =
      response.status >= 400 &&
      response.status < 500 &&
      (ERROR_CODES as readonly string[]).includes(response.body?.error) &&
      typeof response.body.message === 'string' &&
      Object.keys(response.body).sort().join() === 'error,message';
    if (!ok) problems.push(`${method} ${url.slice(0, 40)}: ${response.status} ${JSON.stringify(response.body).slice(0, 120)}`);
  }
  assert.deepEqual(problems, []);
});

test('the longest allowed resource name (128 characters) is accepted', async () => {
  const resource = `${uniqueResource('long')}-`.padEnd(128, 'x');
  const acquired = await acquireOn(resource);
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  assert.equal(acquired.body.resource, resource);
  assert.equal((await service.call('DELETE', `/permits/${acquired.body.runId}`)).status, 204);
});

test('a leaseMs that is too short, fractional, not a number or above MAX_LEASE_MS is refused naming leaseMs', async () => {
  for (const leaseMs of [999, 0, -5, 3.5, 1_000.5, 'abc', '5000', null, true, MAX_LEASE_MS + 1]) {
    assertRefused(await acquireOn(uniqueResource(), { leaseMs }), 400, 'invalid_request', 'leaseMs');
  }
});

test('a capacity of 0, a fraction or above MAX_CAPACITY is refused naming capacity', async () => {
  for (const capacity of [0, -1, 1.5, '3', MAX_CAPACITY + 1]) {
    assertRefused(await acquireOn(uniqueResource(), { capacity }), 400, 'invalid_request', 'capacity');
  }
});

test('a negative, fractional or too long waitMs is refused naming waitMs', async () => {
  for (const waitMs of [-1, 0.5, 'soon', MAX_WAIT_MS + 1]) {
    assertRefused(await acquireOn(uniqueResource(), { waitMs }), 400, 'invalid_request', 'waitMs');
  }
});

test('a holder longer than 256 characters or not a string is refused naming holder', async () => {
  for (const holder of ['h'.repeat(257), 42, { name: 'x' }]) {
    assertRefused(await acquireOn(uniqueResource(), { holder }), 400, 'invalid_request', 'holder');
  }
  const longest = await acquireOn(uniqueResource(), { holder: 'h'.repeat(256) });
  assert.equal(longest.status, 201, JSON.stringify(longest.body));
  await service.call('DELETE', `/permits/${longest.body.runId}`);
});

test('an unknown body field is refused naming the field, so a typo never goes unnoticed', async () => {
  assertRefused(await acquireOn(uniqueResource(), { leaseMS: 5_000 }), 400, 'invalid_request', 'leaseMS');
  assertRefused(await acquireOn(uniqueResource(), { leaseMs: 5_000, owner: 'me' }), 400, 'invalid_request', 'owner');
  assertRefused(
    await service.call('POST', `/permits/${heldRunId}/renew`, { lease: 5_000 }),
    400,
    'invalid_request',
    'lease',
  );
});

test('a body that is not a JSON object is refused with 400', async () => {
  assertRefused(await acquireOn(uniqueResource(), '{"leaseMs": 5000'), 400, 'invalid_request', 'JSON');
  assertRefused(await acquireOn(uniqueResource(), 'leaseMs=5000'), 400, 'invalid_request', 'JSON');
  assertRefused(await acquireOn(uniqueResource(), [{ leaseMs: 5_000 }]), 400, 'invalid_request', 'body');
  assertRefused(await acquireOn(uniqueResource(), '"text"'), 400, 'invalid_request', 'body');
  assertRefused(await acquireOn(uniqueResource(), '42'), 400, 'invalid_request', 'body');
});

test('a body larger than the limit is refused with 413', async () => {
  const response = await acquireOn(uniqueResource(), { holder: 'x'.repeat(64 * 1024) });
  assertRefused(response, 413, 'payload_too_large');
});

test('a body that is not JSON by content type is refused with 415', async () => {
  for (const contentType of ['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const response = await service.call('POST', `/resources/${uniqueResource()}/acquire`, 'leaseMs=5000', {
      'content-type': contentType,
    });
    assertRefused(response, 415, 'unsupported_media_type');
  }
  // Fastify parses text/plain itself; it still must not get through as options.
  const text = await service.call('POST', `/resources/${uniqueResource()}/acquire`, '{"leaseMs":5000}', {
    'content-type': 'text/plain',
  });
  assert.ok(text.status === 400 || text.status === 415, JSON.stringify(text.body));
  assertRefused(text, text.status, text.status === 400 ? 'invalid_request' : 'unsupported_media_type');
});

test('something that is not a runId is refused with 400 on GET, DELETE and renew', async () => {
  const notRunIds = [
    'not-a-uuid',
    heldRunId.toUpperCase(),
    `${heldRunId}0`,
    heldRunId.replaceAll('-', ''),
    `{${heldRunId}}`,
    encodeURIComponent("x' OR '1'='1"),
    encodeURIComponent(`${heldRunId}' OR RunId != '`),
    encodeURIComponent(`${heldRunId} `),
  ];
  for (const runId of notRunIds) {
    for (const [method, url] of [
      ['GET', `/permits/${runId}`],
      ['DELETE', `/permits/${runId}`],
      ['POST', `/permits/${runId}/renew`],
    ] as const) {
      assertRefused(await service.call(method, url), 400, 'invalid_request', 'runId');
    }
  }
  // The uppercase form of a held permit's token must not release it.
  const status = await service.call('GET', `/permits/${heldRunId}`);
  assert.equal(status.status, 200);
});

test('a renew with leaseMs 0, above MAX_LEASE_MS or not a number is refused naming leaseMs', async () => {
  for (const leaseMs of [0, 999, MAX_LEASE_MS + 1, 2.5, 'abc']) {
    assertRefused(
      await service.call('POST', `/permits/${heldRunId}/renew`, { leaseMs }),
      400,
      'invalid_request',
      'leaseMs',
    );
  }
});

test('a bad capacity or an unknown parameter in the resource view query is refused naming it', async () => {
  const resource = uniqueResource();
  for (const query of ['capacity=0', 'capacity=abc', `capacity=${MAX_CAPACITY + 1}`, 'capacity=1.5']) {
    assertRefused(await service.call('GET', `/resources/${resource}?${query}`), 400, 'invalid_request', 'capacity');
  }
  assertRefused(await service.call('GET', `/resources/${resource}?limit=3`), 400, 'invalid_request', 'limit');
});

test('an unknown route is a 404 not_found JSON answer', async () => {
  for (const [method, url] of [
    ['GET', '/nope'],
    // GET /resources lists the resources with holders; GET /permits is no route.
    ['GET', '/permits'],
    ['POST', '/permits'],
    ['GET', '/ui/missing.js'],
  ] as const) {
    assertRefused(await service.call(method, url), 404, 'not_found');
  }
});

test('a known path with the wrong method is a 405 naming the allowed methods', async () => {
  for (const [method, url, allow] of [
    ['PUT', `/permits/${heldRunId}`, 'DELETE, GET'],
    ['GET', `/resources/${uniqueResource()}/acquire`, 'POST'],
    ['DELETE', `/resources/${uniqueResource()}`, 'GET'],
  ] as const) {
    const response = await service.call(method, url);
    assertRefused(response, 405, 'method_not_allowed');
    assert.equal(response.headers.allow, allow, `${method} ${url}`);
  }
});

test('path parameters with dot-dot, colons, unicode, percent-encoding or 10k characters get the same 4xx JSON answer on every route', async () => {
  // ".." is resolved away by URL normalization before routing: `/resources/..` and `/permits/..` become
  // `/`, the dashboard page (GET) or a 405 (other methods); `/resources/../acquire` becomes `/acquire`
  // (404). None reaches a permit route. 10k characters exceed the router's parameter length (414);
  // everything else reaches the route and fails its schema (400).
  for (const value of ['..', '%2E%2E']) {
    for (const [method, url] of [
      ['POST', `/resources/${value}/acquire`],
      ['GET', `/resources/${value}`],
      ['GET', `/permits/${value}`],
      ['DELETE', `/permits/${value}`],
      ['POST', `/permits/${value}/renew`],
    ] as const) {
      const response = await service.call(method, url, method === 'POST' ? {} : undefined);
      const page = method === 'GET' && response.status === 200 && String(response.headers['content-type']).startsWith('text/html');
      const refused = [404, 405].includes(response.status) && typeof response.body?.message === 'string';
      assert.ok(page || refused, `${method} ${url}: ${response.status} ${JSON.stringify(response.body).slice(0, 120)}`);
    }
  }
  const expectations: Array<[string, number, string]> = [
    ['..%2F..%2Fetc%2Fpasswd', 400, 'invalid_request'],
    ['a:b', 400, 'invalid_request'],
    ['%3A', 400, 'invalid_request'],
    [encodeURIComponent('ресурс'), 400, 'invalid_request'],
    [encodeURIComponent('🔒'), 400, 'invalid_request'],
    ['%F0%9F', 400, 'invalid_request'],
    ['%25', 400, 'invalid_request'],
    ['%00', 400, 'invalid_request'],
    ['x'.repeat(10_000), 414, 'invalid_request'],
    [encodeURIComponent('é'.repeat(5_000)), 414, 'invalid_request'],
  ];
  const problems: string[] = [];
  for (const [value, status, error] of expectations) {
    for (const [method, url, body, param] of [
      ['POST', `/resources/${value}/acquire`, {}, 'resource'],
      ['GET', `/resources/${value}`, undefined, 'resource'],
      ['PUT', `/resources/${value}/capacity`, { capacity: 1 }, 'resource'],
      ['GET', `/permits/${value}`, undefined, 'runId'],
      ['DELETE', `/permits/${value}`, undefined, 'runId'],
      ['POST', `/permits/${value}/renew`, {}, 'runId'],
      ['POST', `/permits/${value}/force-release`, { reason: 'bad input' }, 'runId'],
    ] as const) {
      const response = await service.call(method, url, body);
      const ok =
        response.status === status &&
        response.body?.error === error &&
        typeof response.body.message === 'string' &&
        // A broken percent-encoding fails in the router, whose message names the path instead.
        (status !== 400 || response.body.message.includes(param) || response.body.message.startsWith('path:'));
      if (!ok) problems.push(`${method} ${url.slice(0, 40)}: ${response.status} ${JSON.stringify(response.body).slice(0, 120)}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('bodies with wrong types, huge numbers, deep nesting, non-JSON or a wrong content type get a 4xx naming the problem', async () => {
  const resource = uniqueResource('bodies');
  for (const [body, field] of [
    [{ leaseMs: 1e308 }, 'leaseMs'],
    ['{"leaseMs": 1e400}', 'leaseMs'],
    ['{"leaseMs": 9007199254740993}', 'leaseMs'],
    [{ capacity: -1e308 }, 'capacity'],
    [{ waitMs: [1] }, 'waitMs'],
    [{ holder: ['a'] }, 'holder'],
    [{ holder: { nested: { deeper: true } } }, 'holder'],
    [`{"holder": ${'['.repeat(5_000)}${']'.repeat(5_000)}}`, 'holder'],
    [`${'['.repeat(7_000)}${']'.repeat(7_000)}`, 'body'],
    ['{"leaseMs": NaN}', 'JSON'],
    ['\u0000\u0001', 'JSON'],
    ['{"leaseMs": 5000}garbage', 'JSON'],
  ] as const) {
    assertRefused(await acquireOn(resource, body), 400, 'invalid_request', field);
  }
  for (const [body, field] of [
    [{ reason: '' }, 'reason'],
    [{ reason: 'x'.repeat(501) }, 'reason'],
    [{ reason: 'bell\u0007' }, 'reason'],
    [{ reason: 42 }, 'reason'],
  ] as const) {
    assertRefused(await service.call('POST', `/permits/${heldRunId}/force-release`, body), 400, 'invalid_request', field);
  }
  for (const body of [{ capacity: 0 }, { capacity: 1e9 }, { capacity: '2' }, {}]) {
    assertRefused(await service.call('PUT', `/resources/${resource}/capacity`, body), 400, 'invalid_request', 'capacity');
  }
  const wrongType = await service.call('PUT', `/resources/${resource}/capacity`, '<capacity>2</capacity>', { 'content-type': 'application/xml' });
  assertRefused(wrongType, 415, 'unsupported_media_type');
  const huge = await service.call('POST', `/permits/${heldRunId}/force-release`, { reason: 'x'.repeat(10 * 1024 * 1024) });
  assertRefused(huge, 413, 'payload_too_large', 'BODY_LIMIT_BYTES');
});

// Runs last (node:test runs a file's tests in order): everything above must have left the service healthy.
test('after all the bad input the service is healthy and a normal acquire and release work', async () => {
  const health = await service.call('GET', '/healthz');
  assert.equal(health.status, 200);
  const ready = await service.call('GET', '/readyz');
  assert.equal(ready.status, 200);

  const resource = uniqueResource();
  const acquired = await acquireOn(resource, { leaseMs: 5_000, holder: 'after bad input' });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  assert.equal((await service.call('DELETE', `/permits/${acquired.body.runId}`)).status, 204);
  assert.equal((await service.call('DELETE', `/permits/${heldRunId}`)).status, 204);

  // No request in this file was answered with a 5xx.
  const metrics = String((await service.call('GET', '/metrics')).body);
  const serverErrors = metrics.split('\n').filter((line) => /^lock_http_request_duration_seconds_count\{.*status="5\d\d"/.test(line));
  assert.deepEqual(serverErrors, []);
  assert.doesNotMatch(metrics, /^lock_acquire_total\{outcome="error"\}/m);
});
