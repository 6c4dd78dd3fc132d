import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeKeyFile, type KeyFile } from '../helpers/api-keys.js';
import { untilWaiting } from '../helpers/metrics.js';
import { http } from '../helpers/process.js';
import { startTestService, uniqueResource, type TestResponse, type TestService } from '../helpers/service.js';

// Every configurable limit answers with a clear 4xx/429 that names it (and leaves the service healthy).

const LIMITS = {
  BODY_LIMIT_BYTES: '2048',
  MAX_HEADER_BYTES: '4096',
  MAX_HOLDER_LENGTH: '20',
  RATE_LIMIT_PER_SECOND: '12',
  MAX_WAITERS_PER_KEY: '1',
};

let keys: KeyFile;
let service: TestService;

before(async () => {
  keys = await writeKeyFile(undefined, [
    { name: 'busy-bot', role: 'client', prefixes: ['*'] },
    { name: 'calm-bot', role: 'client', prefixes: ['*'] },
    { name: 'waiter', role: 'client', prefixes: ['*'] },
    { name: 'other-waiter', role: 'client', prefixes: ['*'] },
  ]);
  service = await startTestService(undefined, { API_KEYS_FILE: keys.file, ...LIMITS }, { listen: true });
});
after(async () => {
  await service?.stop();
  await keys?.remove();
});

function assertNamed(answer: TestResponse | { status: number; body: any }, status: number, error: string, variable: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error, error, JSON.stringify(answer.body));
  assert.ok(answer.body.message.includes(variable), `the message names ${variable}: ${answer.body.message}`);
}

test('a body larger than BODY_LIMIT_BYTES, up to 10 MB, gets 413 naming BODY_LIMIT_BYTES', async () => {
  for (const size of [3_000, 10 * 1024 * 1024]) {
    const answer = await service.call('POST', `/resources/${uniqueResource()}/acquire`, { holder: 'x'.repeat(size) }, keys.auth('calm-bot'));
    assertNamed(answer, 413, 'payload_too_large', 'BODY_LIMIT_BYTES');
  }
});

test('request headers larger than MAX_HEADER_BYTES get 431 naming MAX_HEADER_BYTES, as JSON', async () => {
  const answer = await http('GET', `${service.url}/resources/${uniqueResource()}`, undefined, {
    headers: { ...keys.auth('calm-bot'), 'x-padding': 'p'.repeat(8_000) },
  });
  assertNamed(answer, 431, 'headers_too_large', 'MAX_HEADER_BYTES');
  // Within the limit, the same request is served.
  const fine = await http('GET', `${service.url}/resources/${uniqueResource()}`, undefined, {
    headers: { ...keys.auth('calm-bot'), 'x-padding': 'p'.repeat(1_000) },
  });
  assert.equal(fine.status, 200, JSON.stringify(fine.body));
});

test('a holder longer than MAX_HOLDER_LENGTH, or with control characters, gets 400 naming holder', async () => {
  const acquireWith = (holder: string) =>
    service.call('POST', `/resources/${uniqueResource()}/acquire`, { holder }, keys.auth('calm-bot'));
  const tooLong = await acquireWith('h'.repeat(21));
  assertNamed(tooLong, 400, 'invalid_request', 'holder');
  for (const holder of ['ok\u001b[31mred', 'line\nbreak', 'nul\u0000', 'del\u007f', 'c1\u009b', 'rtl\u202eevil', 'tab\there']) {
    const answer = await acquireWith(holder);
    assertNamed(answer, 400, 'invalid_request', 'holder');
    assert.match(answer.body.message, /control characters/);
  }
  const fine = await acquireWith('h'.repeat(20));
  assert.equal(fine.status, 201, JSON.stringify(fine.body));
  const unicode = await acquireWith('Zoë 测试 🚀');
  assert.equal(unicode.status, 201, JSON.stringify(unicode.body));
});

test('past RATE_LIMIT_PER_SECOND requests in a second a key gets 429 with Retry-After naming the limit; other keys do not', async () => {
  const resource = uniqueResource('rate');
  const answers: TestResponse[] = [];
  for (let i = 0; i < 60; i++) answers.push(await service.call('GET', `/resources/${resource}?capacity=1`, undefined, keys.auth('busy-bot')));
  const limited = answers.filter((answer) => answer.status === 429);
  assert.ok(limited.length > 0, `statuses: ${answers.map((answer) => answer.status).join(' ')}`);
  assertNamed(limited[0]!, 429, 'rate_limited', 'RATE_LIMIT_PER_SECOND');
  assert.match(String(limited[0]!.headers['retry-after']), /^[1-9]\d*$/);
  assert.ok(answers.every((answer) => answer.status === 200 || answer.status === 429));
  // The limit is per key: another key is served meanwhile.
  assert.equal((await service.call('GET', `/resources/${resource}?capacity=1`, undefined, keys.auth('calm-bot'))).status, 200);
  // Probes are never limited.
  for (let i = 0; i < 20; i++) assert.equal((await service.call('GET', '/healthz')).status, 200);
});

test('a key with MAX_WAITERS_PER_KEY waiting acquires gets 429 naming it for one more; other keys still wait', async () => {
  const resource = uniqueResource('waiters');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 }, keys.auth('calm-bot'));
  assert.equal(held.status, 201);
  const waiting = service.call('POST', `/resources/${resource}/acquire`, { waitMs: 20_000 }, keys.auth('waiter'));
  const othersWaiting = service.call('POST', `/resources/${resource}/acquire`, { waitMs: 20_000 }, keys.auth('other-waiter'));
  // The first wait is registered when its request reaches the queue; the metric says when both are there.
  await untilWaiting(service, 2);
  const refused = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 20_000 }, keys.auth('waiter'));
  assertNamed(refused, 429, 'too_many_waiters', 'MAX_WAITERS_PER_KEY');
  assert.match(String(refused.headers['retry-after']), /^\d+$/);
  // A try-once acquire is not a waiter: it is answered busy as usual.
  assert.equal((await service.call('POST', `/resources/${resource}/acquire`, {}, keys.auth('waiter'))).status, 409);

  assert.equal((await service.call('DELETE', `/permits/${held.body.runId}`, undefined, keys.auth('calm-bot'))).status, 204);
  // Either waiter may be first in the queue; each gets the slot in turn as the other releases it.
  const waiters = [
    { name: 'waiter', answer: waiting },
    { name: 'other-waiter', answer: othersWaiting },
  ].map(({ name, answer }) => answer.then((response) => ({ name, response })));
  const first = await Promise.race(waiters);
  assert.equal(first.response.status, 201, JSON.stringify(first.response.body));
  assert.equal((await service.call('DELETE', `/permits/${first.response.body.runId}`, undefined, keys.auth(first.name))).status, 204);
  for (const { name, response } of await Promise.all(waiters)) {
    assert.equal(response.status, 201, `${name}: ${JSON.stringify(response.body)}`);
    if (name !== first.name) assert.equal((await service.call('DELETE', `/permits/${response.body.runId}`, undefined, keys.auth(name))).status, 204);
  }
});
