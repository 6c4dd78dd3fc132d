import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockClient, LockServiceError, LockServiceUnreachableError, PermitLostError } from '../../packages/client/src/client/index.js';
import { PermitSchema } from '../../src/http/schemas.js';
import { startListeningService, type ListeningService } from '../helpers/listening-service.js';
import { freePort } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';
import { TARGET_URL, ownServiceNeeded } from '../helpers/target-url.js';

// The typed client against a listening service on the real Temporal test server, or, with
// LOCK_TEST_URL, against the service there (such as `npm run cluster`'s load balancer).

let service: Pick<ListeningService, 'url' | 'stop'>;
let client: LockClient;
before(async () => {
  // An unknown runId is looked up in visibility until this runs out; the 404 test needs no long wait.
  service = TARGET_URL ? { url: TARGET_URL, stop: async () => undefined } : await startListeningService(undefined, { VISIBILITY_LOOKUP_WAIT_MS: '300' });
  client = new LockClient({ url: service.url });
});
after(() => service?.stop());

const UNKNOWN_RUN_ID = '00000000-0000-4000-8000-000000000000';

/** The error a promise rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to fail');
}

test('acquire, renew, status, holders and release make a round trip with typed answers', async () => {
  const resource = uniqueResource('client-trip');
  const permit = await client.acquire(resource, { leaseMs: 5_000, holder: 'client test' });
  PermitSchema.parse(permit);
  assert.equal(permit.resource, resource);
  assert.equal(permit.fencingToken, permit.runId);
  assert.equal(permit.holder, 'client test');

  const renewed = await client.renew(permit.runId, { leaseMs: 20_000 });
  assert.equal(renewed.state, 'held');
  assert.equal(renewed.leaseMs, 20_000);
  assert.ok(Date.parse(renewed.expiresAt) > Date.parse(permit.expiresAt));

  const status = await client.status(permit.runId);
  assert.equal(status.runId, permit.runId);
  assert.equal(status.expiresAt, renewed.expiresAt);

  const view = await client.holders(resource, { capacity: 1 });
  assert.deepEqual(view.held.map((held) => held.runId), [permit.runId]);
  assert.equal(view.consistency, 'strong');

  await client.release(permit.runId);
  assert.deepEqual((await client.holders(resource, { capacity: 1 })).held, []);
});

test('a busy resource throws resource_busy with status 409 and retryAfterSeconds', async () => {
  const resource = uniqueResource('client-busy');
  const permit = await client.acquire(resource);
  const error = await rejection(client.acquire(resource));
  assert.ok(error instanceof LockServiceError);
  assert.equal(error.status, 409);
  assert.equal(error.code, 'resource_busy');
  assert.ok(error.retryAfterSeconds !== undefined && error.retryAfterSeconds >= 1, `retryAfterSeconds ${error.retryAfterSeconds}`);
  assert.equal(error.retryable, true);
  await client.release(permit.runId);
});

test('an ended permit throws permit_ended (410) with its state; an unknown one permit_not_found (404)', async () => {
  const permit = await client.acquire(uniqueResource('client-ended'));
  await client.release(permit.runId);
  for (const call of [() => client.release(permit.runId), () => client.renew(permit.runId), () => client.status(permit.runId)]) {
    const error = await rejection(call());
    assert.ok(error instanceof LockServiceError);
    assert.equal(error.status, 410);
    assert.equal(error.code, 'permit_ended');
    assert.equal(error.state, 'released');
    assert.equal(error.permitGone, true);
  }
  const unknown = await rejection(client.status(UNKNOWN_RUN_ID));
  assert.ok(unknown instanceof LockServiceError);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.code, 'permit_not_found');
});

test('a wait longer than the server allows per request is made of several waiting requests and gets the freed slot', async () => {
  const resource = uniqueResource('client-long-wait');
  const held = await client.acquire(resource, { leaseMs: 30_000 });
  const waitBodies: number[] = [];
  const counting = new LockClient({
    url: service.url,
    fetch: (input, init) => {
      if (String(input).endsWith('/acquire')) waitBodies.push(JSON.parse(String(init?.body)).waitMs);
      return fetch(input, init);
    },
  });
  const releaseLater = sleep(2_500).then(() => client.release(held.runId));
  // More than the service's MAX_WAIT_MS (300000): asked for in one request, it would be refused with 400.
  const permit = await counting.acquire(resource, { waitMs: 400_000, maxWaitPerRequestMs: 1_000 });
  await releaseLater;
  assert.equal(permit.slot, held.slot);
  assert.ok(waitBodies.length >= 2, `acquire requests: ${JSON.stringify(waitBodies)}`);
  assert.ok(waitBodies.every((waitMs) => waitMs <= 1_000), `each request waits at most 1 s: ${JSON.stringify(waitBodies)}`);
  await client.release(permit.runId);
});

test('a service whose MAX_WAIT_MS is shorter than one waiting request still serves a long wait', ownServiceNeeded('MAX_WAIT_MS=0'), async (t) => {
  const strict = await startListeningService(t, { MAX_WAIT_MS: '0' });
  const resource = uniqueResource('client-no-server-wait');
  const waitBodies: number[] = [];
  const counting = new LockClient({
    url: strict.url,
    fetch: (input, init) => {
      if (String(input).endsWith('/acquire')) waitBodies.push(JSON.parse(String(init?.body)).waitMs);
      return fetch(input, init);
    },
  });
  const held = await counting.acquire(resource, { leaseMs: 30_000 });
  const releaseLater = sleep(1_500).then(() => counting.release(held.runId));
  const permit = await counting.acquire(resource, { waitMs: 30_000 });
  await releaseLater;
  assert.equal(permit.slot, held.slot);
  assert.ok(waitBodies[1]! > 0, 'it first asked the service to wait');
  assert.ok(waitBodies.length >= 4 && waitBodies.slice(2).every((waitMs) => waitMs === 0), `then polled: ${JSON.stringify(waitBodies)}`);
  await counting.release(permit.runId);
});

test('an aborted acquire rejects with the signal\'s reason and leaves no slot taken', async () => {
  const resource = uniqueResource('client-abort');
  const held = await client.acquire(resource, { leaseMs: 30_000 });
  const controller = new AbortController();
  const waiting = client.acquire(resource, { waitMs: 60_000, signal: controller.signal });
  await sleep(300);
  const reason = new Error('caller gave up');
  controller.abort(reason);
  assert.equal(await rejection(waiting), reason);

  await client.release(held.runId);
  await sleep(1_500);
  assert.deepEqual((await client.holders(resource, { capacity: 1 })).held, [], 'the abandoned wait took no slot');
});

test('withPermit returns the result of fn and releases the permit', async () => {
  const resource = uniqueResource('client-with');
  const result = await client.withPermit(resource, async ({ permit, signal }) => {
    assert.equal(signal.aborted, false);
    assert.equal((await client.status(permit.runId)).state, 'held');
    return permit.runId;
  });
  const error = await rejection(client.status(result));
  assert.ok(error instanceof LockServiceError && error.code === 'permit_ended');
  assert.deepEqual((await client.holders(resource, { capacity: 1 })).held, []);
});

test('withPermit releases the permit when fn throws, and the error comes through', async () => {
  const resource = uniqueResource('client-throws');
  let runId = '';
  const failure = new Error('the work failed');
  const error = await rejection(
    client.withPermit(resource, ({ permit }) => {
      runId = permit.runId;
      throw failure;
    }),
  );
  assert.equal(error, failure);
  assert.ok(runId);
  assert.deepEqual((await client.holders(resource, { capacity: 1 })).held, []);
});

test('withPermit renews in the background: fn can outlive the first lease', async () => {
  const resource = uniqueResource('client-renews');
  await client.withPermit(
    resource,
    async ({ permit, signal }) => {
      await sleep(3_000);
      assert.equal(signal.aborted, false);
      const status = await client.status(permit.runId);
      assert.ok(Date.parse(status.expiresAt) > Date.parse(permit.expiresAt), 'the lease was extended');
    },
    { leaseMs: 1_500 },
  );
});

test('withPermit aborts the signal with a PermitLostError when the permit is released out from under it', async () => {
  const resource = uniqueResource('client-lost');
  const reason = await client.withPermit(
    resource,
    async ({ permit, signal }) => {
      await fetch(`${service.url}/permits/${permit.runId}`, { method: 'DELETE' });
      const lost = new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));
      const gaveUp = sleep(15_000).then(() => 'never aborted');
      return Promise.race([lost, gaveUp]);
    },
    { leaseMs: 2_000 },
  );
  assert.ok(reason instanceof PermitLostError, String(reason));
  assert.equal(reason.reason, 'ended');
  assert.equal(reason.state, 'released');
});

test('withPermit aborts the signal with reason max_hold when the service refuses renewals past the maximum hold time', ownServiceNeeded('MAX_HOLD_MS=4000'), async (t) => {
  const short = await startListeningService(t, { MAX_HOLD_MS: '4000', MAX_LEASE_MS: '2000', DEFAULT_LEASE_MS: '2000' });
  const shortClient = new LockClient({ url: short.url });
  const resource = uniqueResource('client-max-hold');
  const reason = await shortClient.withPermit(resource, ({ signal }) => {
    const lost = new Promise<unknown>((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));
    return Promise.race([lost, sleep(15_000).then(() => 'never aborted')]);
  });
  assert.ok(reason instanceof PermitLostError, String(reason));
  assert.equal(reason.reason, 'max_hold');
  assert.match(reason.message, /the service refuses renewals \(leaseMs: .+\) and the lease is running out/);
});

test('withPermit aborts the signal with reason renewal_limit before the lease runs out when the service refuses renewals past MAX_RENEWALS', ownServiceNeeded('MAX_RENEWALS=2'), async (t) => {
  const limited = await startListeningService(t, { MAX_RENEWALS: '2' });
  const limitedClient = new LockClient({ url: limited.url });
  const resource = uniqueResource('client-renewal-limit');
  let workflowId = '';
  let runId = '';
  let lostAtMs = 0;
  const reason = await limitedClient.withPermit(
    resource,
    ({ permit, signal }) => {
      ({ workflowId, runId } = permit);
      const lost = new Promise<unknown>((resolve) =>
        signal.addEventListener('abort', () => {
          lostAtMs = Date.now();
          resolve(signal.reason);
        }),
      );
      return Promise.race([lost, sleep(20_000).then(() => 'never aborted')]);
    },
    { leaseMs: 3_000 },
  );
  assert.ok(reason instanceof PermitLostError, String(reason));
  assert.equal(reason.reason, 'renewal_limit');
  assert.match(reason.message, /the service refuses renewals \(this permit has been renewed 2 times.+\) and the lease is running out/);
  // The memo keeps the end of the last lease granted; the signal had to fire before it.
  const { memo } = await limited.client.workflow.getHandle(workflowId, runId).describe();
  assert.equal(memo?.renewals, 2);
  const leaseEndMs = Date.parse(String(memo?.expiresAt));
  assert.ok(lostAtMs < leaseEndMs, `the signal fired ${lostAtMs - leaseEndMs} ms after the lease ended`);
});

test('an address where nothing listens throws LockServiceUnreachableError', async () => {
  const nowhere = new LockClient({ url: `http://127.0.0.1:${await freePort()}` });
  const error = await rejection(nowhere.acquire('anything'));
  assert.ok(error instanceof LockServiceUnreachableError, String(error));
  assert.match(error.message, /cannot reach the lock service at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
});

test('an answer that is not the lock API (a gateway page) is an unexpected_response, and the API key is sent as a bearer token', async (t) => {
  let authorization: string | undefined;
  const gateway = http.createServer((request, response) => {
    authorization = request.headers.authorization;
    response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => gateway.close(() => resolve())));
  const behindGateway = new LockClient({ url: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`, apiKey: 's3cret' });

  const error = await rejection(behindGateway.status(UNKNOWN_RUN_ID));
  assert.ok(error instanceof LockServiceError);
  assert.equal(error.status, 502);
  assert.equal(error.code, 'unexpected_response');
  assert.match(error.message, /Bad Gateway/);
  assert.equal(authorization, 'Bearer s3cret');
});

test('a URL that is not http(s), or carries credentials, is refused when the client is made without repeating them', () => {
  assert.throws(() => new LockClient({ url: 'ftp://example.com' }), /must start with http:\/\/ or https:\/\//);
  assert.throws(() => new LockClient({ url: 'not a url' }), /is not a URL/);
  assert.throws(() => new LockClient({ url: 'http://user:s3cret@example.com' }), (error: Error) => {
    assert.match(error.message, /must not contain a user name or password/);
    assert.doesNotMatch(error.message, /s3cret/);
    return true;
  });
});
