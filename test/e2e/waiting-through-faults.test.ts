import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { metric, until, untilWaiting } from '../helpers/metrics.js';
import { startPrivateTemporal } from '../helpers/private-temporal.js';
import { startServiceBehindProxy } from '../helpers/service-behind-proxy.js';
import { startTestService, testTemporalAddress, uniqueResource, type TestResponse, type TestService } from '../helpers/service.js';

// A fault proxy between the service and Temporal stalls all traffic for longer than the RPC
// deadline while the wait queue makes a pass, so that pass fails with DEADLINE_EXCEEDED, as one
// slow moment of a real server would make it fail. The last test kills Temporal itself.

const RPC_TIMEOUT_MS = 1_000;

/** A service whose every Temporal connection (client, slot watches, worker) runs through a fault proxy. */
function serviceBehindProxy(t: TestContext) {
  return startServiceBehindProxy(t, testTemporalAddress(), {
    TEMPORAL_RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS),
    // Frequent probe passes, so one runs soon after the stall begins.
    WAIT_PROBE_MS: '100',
  });
}

const passes = async (service: TestService) =>
  (await metric(service, 'lock_wait_passes_total{reason="probe"}')) +
  (await metric(service, 'lock_wait_passes_total{reason="freed"}'));

/** Follows a request without awaiting it, so a test can tell whether it has been answered yet. */
function track(response: Promise<TestResponse>) {
  const tracked: { answer?: TestResponse; at?: number; done: Promise<TestResponse> } = { done: response };
  void response.then((answer) => {
    tracked.answer = answer;
    tracked.at = Date.now();
  });
  return tracked;
}

test('a waiter whose slot search fails with DEADLINE_EXCEEDED keeps waiting and gets the slot when it frees', async (t) => {
  const { service, proxy } = await serviceBehindProxy(t);
  const resource = uniqueResource('transient');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));

  const waiting = track(service.call('POST', `/resources/${resource}/acquire`, { waitMs: 60_000, holder: 'patient' }));
  await untilWaiting(service, 1);

  proxy.stall();
  const passesBefore = await passes(service);
  await until(async () => (await passes(service)) > passesBefore, 'a pass starts during the stall');
  await until(
    async () => waiting.answer !== undefined || (await metric(service, 'lock_wait_pass_errors_total')) >= 1,
    'the pass fails at its deadline',
  );
  proxy.resume();
  assert.equal(waiting.answer, undefined, `the waiter was answered: ${JSON.stringify(waiting.answer)}`);
  assert.equal(await metric(service, 'lock_waiters'), 1);

  const released = await service.call('DELETE', `/permits/${held.body.runId}`);
  assert.equal(released.status, 204, JSON.stringify(released.body));
  const granted = await waiting.done;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.holder, 'patient');
  assert.equal(granted.body.slot, held.body.slot);
});

test('a wait that ends while the slot search keeps failing answers 503 temporal_unavailable at its deadline, not before', async (t) => {
  const { service, proxy } = await serviceBehindProxy(t);
  const resource = uniqueResource('transient-deadline');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));

  const waitMs = 4_000;
  const askedAt = Date.now();
  const waiting = track(service.call('POST', `/resources/${resource}/acquire`, { waitMs }));
  await untilWaiting(service, 1);
  proxy.stall();
  t.after(() => proxy.resume());

  const answer = await waiting.done;
  proxy.resume();
  assert.equal(answer.status, 503, JSON.stringify(answer.body));
  assert.equal(answer.body.error, 'temporal_unavailable');
  assert.ok(waiting.at! - askedAt >= waitMs, `answered ${waiting.at! - askedAt} ms after the request, before waitMs ${waitMs}`);
  assert.match(answer.body.message, /DEADLINE_EXCEEDED.*last search for a free slot .* failed/);
  assert.equal(answer.headers['retry-after'], '1');
  assert.ok((await metric(service, 'lock_wait_pass_errors_total')) >= 1);
});

test('a waiter keeps its place while Temporal is SIGKILLed and restarted, and gets the slot when it frees', { timeout: 300_000 }, async (t) => {
  const temporal = await startPrivateTemporal();
  const service = await startTestService(t, {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS),
    WAIT_PROBE_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '5000',
  }).catch(async (error: unknown) => {
    await temporal.stop();
    throw error;
  });
  // Registered after the service's own after-hook, so the service stops before its server.
  t.after(temporal.stop);
  const resource = uniqueResource('transient-restart');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 600_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  const waiting = track(service.call('POST', `/resources/${resource}/acquire`, { waitMs: 120_000, holder: 'patient' }));
  await untilWaiting(service, 1);

  await temporal.kill();
  await until(
    async () => waiting.answer !== undefined || (await metric(service, 'lock_wait_pass_errors_total')) >= 1,
    'a pass fails while Temporal is down',
    30_000,
  );
  await temporal.restart();
  // The client reconnects with back-off; readiness says when Temporal answers it again.
  await until(async () => (await service.call('GET', '/readyz')).status === 200, 'the service reaches Temporal again', 90_000);
  assert.equal(waiting.answer, undefined, `the waiter was answered: ${JSON.stringify(waiting.answer)}`);

  const released = await service.call('DELETE', `/permits/${held.body.runId}`);
  assert.equal(released.status, 204, JSON.stringify(released.body));
  const granted = await waiting.done;
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(granted.body.holder, 'patient');
});
