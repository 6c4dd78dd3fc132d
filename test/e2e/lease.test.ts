import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { permitStartOptions } from '../../src/permits/permit-start.js';
import { PERMIT_WORKFLOW_TASK_TIMEOUT_MS, PERMIT_WORKFLOW_TYPE } from '../../src/temporal/messages.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

/** Tries to take the slot with waitMs 0 until it succeeds; returns the permit and when the 201 arrived. */
async function pollUntilAcquired(service: TestService, resource: string, giveUpAfterMs: number) {
  const giveUpAt = Date.now() + giveUpAfterMs;
  for (;;) {
    const attempt = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
    const answeredAtMs = Date.now();
    if (attempt.status === 201) return { permit: attempt.body, answeredAtMs };
    assert.equal(attempt.status, 409, JSON.stringify(attempt.body));
    assert.equal(attempt.body.error, 'resource_busy');
    assert.ok(answeredAtMs < giveUpAt, `the slot of ${resource} was still busy ${giveUpAfterMs} ms after polling began`);
    await sleep(25);
  }
}

test('a permit that is not renewed expires by itself and its slot goes to the next acquirer', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('lease');

  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(acquired.status, 201);
  const expired = acquired.body;
  assert.equal(Date.parse(expired.expiresAt) - Date.parse(expired.acquiredAt), 1_000);

  const next = await pollUntilAcquired(service, resource, 15_000);
  // The claim happened before its 201 arrived, so an answer before expiresAt would prove the slot was given away early.
  assert.ok(
    next.answeredAtMs >= Date.parse(expired.expiresAt),
    `slot re-acquired at ${new Date(next.answeredAtMs).toISOString()}, before the reported expiresAt ${expired.expiresAt}`,
  );
  assert.equal(next.permit.slot, expired.slot);
  assert.notEqual(next.permit.runId, expired.runId);

  const status = await service.call('GET', `/permits/${expired.runId}`);
  assert.equal(status.status, 410);
  assert.equal(status.body.error, 'permit_ended');
  assert.equal(status.body.state, 'expired');

  const release = await service.call('DELETE', `/permits/${expired.runId}`);
  assert.equal(release.status, 410);
  assert.equal(release.body.error, 'permit_ended');
  assert.equal(release.body.state, 'expired');

  const renew = await service.call('POST', `/permits/${expired.runId}/renew`, { leaseMs: 5_000 });
  assert.equal(renew.status, 410);
  assert.equal(renew.body.error, 'permit_ended');
  assert.equal(renew.body.state, 'expired');

  // None of that touched the new holder.
  const current = await service.call('GET', `/permits/${next.permit.runId}`);
  assert.equal(current.status, 200);
  assert.equal(current.body.state, 'held');
});

test('an expired permit reports expired even before anyone else takes its slot', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('lease-idle');

  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(acquired.status, 201);
  const { runId, expiresAt } = acquired.body;

  await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 200);

  const status = await service.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 410);
  assert.equal(status.body.state, 'expired');
  const renew = await service.call('POST', `/permits/${runId}/renew`);
  assert.equal(renew.status, 410);
  assert.equal(renew.body.state, 'expired');
  const view = await service.call('GET', `/resources/${resource}?capacity=1`);
  assert.deepEqual(view.body.held, []);
});

test('renewing a permit keeps it held past its original expiry while others stay busy', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('renew');

  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_500 });
  assert.equal(acquired.status, 201);
  const permit = acquired.body;
  const originalExpiryMs = Date.parse(permit.expiresAt);

  const keepUntil = originalExpiryMs + 2_500;
  let lastExpiresAt = permit.expiresAt as string;
  let renewals = 0;
  while (Date.now() < keepUntil) {
    await sleep(500);
    const renewed = await service.call('POST', `/permits/${permit.runId}/renew`, { leaseMs: 1_500 });
    assert.equal(renewed.status, 200, `renewal ${renewals + 1}: ${JSON.stringify(renewed.body)}`);
    assert.equal(renewed.body.runId, permit.runId);
    assert.equal(renewed.body.state, 'held');
    assert.ok(Date.parse(renewed.body.expiresAt) >= Date.parse(lastExpiresAt), 'a renewal moved expiresAt backwards');
    lastExpiresAt = renewed.body.expiresAt;
    renewals++;

    const other = await service.call('POST', `/resources/${resource}/acquire`);
    assert.equal(other.status, 409, `another acquirer got the slot while it was renewed: ${JSON.stringify(other.body)}`);
    assert.equal(other.body.error, 'resource_busy');
  }
  assert.ok(renewals >= 4);
  assert.ok(Date.now() > originalExpiryMs + 1_000);

  const status = await service.call('GET', `/permits/${permit.runId}`);
  assert.equal(status.status, 200);
  assert.equal(status.body.state, 'held');
  assert.equal(status.body.expiresAt, lastExpiresAt);

  const released = await service.call('DELETE', `/permits/${permit.runId}`);
  assert.equal(released.status, 204);
});

test('after a release answers 204 an immediate acquire of the resource gets the slot, every time', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('handover');

  let previousRunId: string | undefined;
  for (let round = 1; round <= 10; round++) {
    const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
    assert.equal(acquired.status, 201, `round ${round}: ${JSON.stringify(acquired.body)}`);
    assert.notEqual(acquired.body.runId, previousRunId);
    previousRunId = acquired.body.runId;

    const released = await service.call('DELETE', `/permits/${acquired.body.runId}`);
    assert.equal(released.status, 204, `round ${round}: ${JSON.stringify(released.body)}`);
  }
});

test('the expiresAt a renewal reports is never later than the moment the slot can be re-acquired', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('renew-expiry');

  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(acquired.status, 201);
  const renewed = await service.call('POST', `/permits/${acquired.body.runId}/renew`, { leaseMs: 1_500 });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));

  const next = await pollUntilAcquired(service, resource, 15_000);
  assert.ok(
    next.answeredAtMs >= Date.parse(renewed.body.expiresAt),
    `slot re-acquired at ${new Date(next.answeredAtMs).toISOString()}, before the renewed expiresAt ${renewed.body.expiresAt}`,
  );
});

/**
 * A permit whose lease has run out but whose run is still open: its replica (the only worker on
 * its task queue) is gone, so nothing closes the run. Returns the surviving service and the permit.
 */
async function permitExpiredWithoutWorker(t: TestContext) {
  const first = await startTestService(t);
  const resource = uniqueResource('lease-no-worker');
  const acquired = await first.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(acquired.status, 201);
  await first.stop();
  const other = await startTestService(t);
  await sleep(Math.max(0, Date.parse(acquired.body.expiresAt) - Date.now()) + 300);

  const status = await other.call('GET', `/permits/${acquired.body.runId}`);
  assert.equal(status.status, 410, JSON.stringify(status.body));
  assert.equal(status.body.state, 'expired');
  return { service: other, runId: acquired.body.runId as string };
}

test('a DELETE after the lease ran out answers 410 expired even while no worker has closed the run', async (t) => {
  const { service, runId } = await permitExpiredWithoutWorker(t);

  const release = await service.call('DELETE', `/permits/${runId}`);
  assert.equal(release.status, 410, `a DELETE after the lease ran out must not claim a release: ${JSON.stringify(release.body)}`);
  assert.equal(release.body.state, 'expired');

  const again = await service.call('GET', `/permits/${runId}`);
  assert.equal(again.status, 410);
  assert.equal(again.body.state, 'expired', 'the permit must not change from expired to released');
});

test('a renew after the lease ran out answers 410 expired even while no worker has closed the run', async (t) => {
  const { service, runId } = await permitExpiredWithoutWorker(t);

  const renew = await service.call('POST', `/permits/${runId}/renew`, { leaseMs: 30_000 });
  assert.equal(renew.status, 410, `renewing an expired lease: ${JSON.stringify(renew.body)}`);
  assert.equal(renew.body.state, 'expired');
});

test('the lease counts from the start of the run, even when the worker runs its first task late', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('late-first-task');
  // A start delay holds the first workflow task back by 1.5 s, as a worker backlog or outage would.
  const options = permitStartOptions({
    resource,
    slot: 0,
    capacity: 1,
    leaseMs: 1_000,
    maxHoldMs: service.config.limits.maxHoldMs,
    maxRenewals: service.config.limits.maxRenewals,
    holder: null,
    taskQueue: service.config.temporal.taskQueue,
  });
  const handle = await service.client.workflow.start(PERMIT_WORKFLOW_TYPE, { ...options, startDelay: 1_500 });
  assert.equal(await handle.result(), 'expired');
  const { startTime, closeTime } = await handle.describe();
  const heldMs = closeTime!.getTime() - startTime.getTime();
  assert.ok(heldMs < 2_400, `the 1 s lease ended ${heldMs} ms after the start: it counted from the late first task`);
});

test('a permit run carries the short workflow task timeout that bounds how late a renewal can commit', async (t) => {
  const service = await startTestService(t);
  const acquired = await service.call('POST', `/resources/${uniqueResource('task-timeout')}/acquire`, { leaseMs: 5_000 });
  assert.equal(acquired.status, 201);
  const run = await service.client.workflow.getHandle(acquired.body.workflowId, acquired.body.runId).describe();
  const timeout = run.raw.executionConfig?.defaultWorkflowTaskTimeout;
  assert.equal(Number(timeout?.seconds ?? 0) * 1_000 + (timeout?.nanos ?? 0) / 1e6, PERMIT_WORKFLOW_TASK_TIMEOUT_MS);
  assert.equal((await service.call('DELETE', `/permits/${acquired.body.runId}`)).status, 204);
});
