import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { metric, until } from '../helpers/metrics.js';
import { startTestService, testTemporalAddress, uniqueResource, type TestService } from '../helpers/service.js';

// The service must never hand out a permit whose lease, by its own clock, has run out or is about
// to: a start answered that late (Temporal restarting, a slow network) is ended, not delivered.

/** Each way, so a start's answer comes back well after a 1 s lease that began when it was sent. */
const SLOW_MS = 700;

/**
 * An acquire with a 1 s lease while the proxy delays each way by SLOW_MS: it must be refused as busy,
 * with its start counted late, and never be a 201 that arrives after its own expiresAt.
 */
async function acquireAnsweredLate(service: TestService, proxy: FaultProxy, resource: string): Promise<void> {
  proxy.setDelay(SLOW_MS);
  const answer = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  const receivedAtMs = Date.now();
  proxy.setDelay(0);
  if (answer.status === 201) {
    assert.ok(
      Date.parse(answer.body.expiresAt) > receivedAtMs,
      `a 201 arrived ${receivedAtMs - Date.parse(answer.body.expiresAt)} ms after its own expiresAt ${answer.body.expiresAt}`,
    );
  }
  assert.equal(answer.status, 409, JSON.stringify(answer.body));
  assert.equal(answer.body.error, 'resource_busy');
  assert.equal(await metric(service, 'lock_slot_start_attempts_total{result="late"}'), 1);
}

/** The reason of the terminate that ended the run. */
async function terminateReason(service: TestService, workflowId: string, runId: string): Promise<string> {
  const history = await service.client.workflow.getHandle(workflowId, runId).fetchHistory();
  return String(history.events!.at(-1)!.workflowExecutionTerminatedEventAttributes?.reason);
}

test('an acquire whose start is answered after its lease would have ended gets no 201, and that run is ended as undelivered', async (t) => {
  const proxy = await startFaultProxy(t, testTemporalAddress());
  // Without a start delay the run's first workflow task arms the lease timer, and that timer's task
  // needs two more trips through the slow proxy: the service's terminate ends the run first. (With
  // the delay, the run ends by itself at its lease end, which the next test covers.)
  const service = await startTestService(t, { TEMPORAL_ADDRESS: proxy.address, PERMIT_START_DELAY: 'none' });
  const resource = uniqueResource('late');
  await acquireAnsweredLate(service, proxy, resource);

  const run = await service.client.workflow.getHandle(`permit:${resource}:0`).describe();
  assert.equal(run.status.name, 'TERMINATED');
  assert.match(await terminateReason(service, run.workflowId, run.runId), /^not delivered: /);

  const next = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(next.status, 201, JSON.stringify(next.body));
});

test('with the start delay, a start answered after its lease ended gets no 201, and the run is over by its own lease end or by the terminate', async (t) => {
  const proxy = await startFaultProxy(t, testTemporalAddress());
  const service = await startTestService(t, { TEMPORAL_ADDRESS: proxy.address, PERMIT_START_DELAY: 'lease' });
  const resource = uniqueResource('late-delayed');
  await acquireAnsweredLate(service, proxy, resource);

  // Whichever came first, the run's first workflow task at the delay's end (expired) or the
  // service's terminate (not delivered), the run is closed and its close record says which.
  const run = await service.client.workflow.getHandle(`permit:${resource}:0`).describe();
  if (run.status.name === 'TERMINATED') {
    assert.match(await terminateReason(service, run.workflowId, run.runId), /^not delivered: /);
  } else {
    assert.equal(run.status.name, 'COMPLETED');
    assert.equal(run.memo?.outcome, 'expired');
  }
  const next = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(next.status, 201, JSON.stringify(next.body));
});

test('a waiting acquire whose starts are answered too late keeps trying within waitMs, and gets a permit with its lease ahead once Temporal answers in time', async (t) => {
  const proxy = await startFaultProxy(t, testTemporalAddress());
  const service = await startTestService(t, { TEMPORAL_ADDRESS: proxy.address });
  const resource = uniqueResource('late-wait');

  proxy.setDelay(SLOW_MS);
  const waiting = service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000, waitMs: 30_000 });
  await until(async () => (await metric(service, 'lock_slot_start_attempts_total{result="late"}')) >= 1, 'a start was answered too late', 20_000);
  proxy.setDelay(0);
  const answer = await waiting;
  const receivedAtMs = Date.now();
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  assert.ok(
    Date.parse(answer.body.expiresAt) > receivedAtMs,
    `a 201 arrived ${receivedAtMs - Date.parse(answer.body.expiresAt)} ms after its own expiresAt ${answer.body.expiresAt}`,
  );
  const status = await service.call('GET', `/permits/${answer.body.runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
});
