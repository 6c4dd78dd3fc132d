import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { LockClient, PermitKeeper } from '../../packages/client/src/client/index.js';
import { permitStartOptions } from '../../src/permits/permit-start.js';
import { PERMIT_WORKFLOW_TYPE, RENEWAL_LIMIT, renewUpdate } from '../../src/temporal/messages.js';
import { metric, until } from '../helpers/metrics.js';
import { startTestService, uniqueResource } from '../helpers/service.js';

// Temporal ends a run whose history reaches 51,200 events, and every renewal adds to the permit
// run's history. A permit must never be ended that way: renewals stop first, with a clear 409.

test('past MAX_RENEWALS a renewal is refused with 409 renewal_limit, and the permit stays held until its lease ends', async (t) => {
  const service = await startTestService(t, { MAX_RENEWALS: '3' });
  const resource = uniqueResource('renewal-limit');
  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(acquired.status, 201);
  const { runId } = acquired.body;

  let lastExpiresAt = '';
  for (let renewal = 1; renewal <= 3; renewal++) {
    const renewed = await service.call('POST', `/permits/${runId}/renew`);
    assert.equal(renewed.status, 200, `renewal ${renewal}: ${JSON.stringify(renewed.body)}`);
    lastExpiresAt = renewed.body.expiresAt;
  }
  const refused = await service.call('POST', `/permits/${runId}/renew`);
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.error, 'renewal_limit');
  assert.match(refused.body.message, /renewed 3 times, the most one permit allows \(MAX_RENEWALS 3\)/);
  assert.match(refused.body.message, new RegExp(`until its lease ends at ${lastExpiresAt.replaceAll('.', '\\.')}`));
  assert.equal(await metric(service, 'lock_permit_operations_total{operation="renew",outcome="refused"}'), 1);

  // Refused, not ended: the holder keeps its slot for the rest of the lease it has.
  const status = await service.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.equal(status.body.expiresAt, lastExpiresAt);
  const other = await service.call('POST', `/resources/${resource}/acquire`);
  assert.equal(other.status, 409);
  assert.equal(other.body.error, 'resource_busy');

  const description = await service.client.workflow.getHandle(acquired.body.workflowId, runId).describe();
  assert.equal(description.memo?.renewals, 3, 'the memo counts the renewals');
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
});

test('a renewal that need not move the lease timer adds 6 events to the permit history, and none when refused', async (t) => {
  const service = await startTestService(t, { MAX_RENEWALS: '21' });
  const resource = uniqueResource('renewal-cost');
  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(acquired.status, 201);
  const { runId, workflowId } = acquired.body;
  const handle = service.client.workflow.getHandle(workflowId, runId);
  // Counted from after a first renewal: by then the run's first workflow task (which arms the timer) is done.
  assert.equal((await service.call('POST', `/permits/${runId}/renew`)).status, 200);
  const before = (await handle.describe()).historyLength;

  // Back to back, each renewal leaves the lease timer (armed a full lease ahead) where it is.
  for (let renewal = 1; renewal <= 20; renewal++) {
    const renewed = await service.call('POST', `/permits/${runId}/renew`);
    assert.equal(renewed.status, 200, `renewal ${renewal}: ${JSON.stringify(renewed.body)}`);
  }
  const afterRenewals = (await handle.describe()).historyLength;
  const perRenewal = (afterRenewals - before) / 20;
  // Workflow task scheduled, started, completed; update accepted, completed; memo modified.
  assert.ok(perRenewal <= 6, `${perRenewal} history events per renewal (8 when every renewal restarts the lease timer)`);

  for (let attempt = 0; attempt < 5; attempt++) {
    const refused = await service.call('POST', `/permits/${runId}/renew`);
    assert.equal(refused.body.error, 'renewal_limit');
  }
  assert.equal((await handle.describe()).historyLength, afterRenewals, 'a refused renewal leaves no trace in the history');
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
});

test('a permit whose history reaches its budget refuses renewals with renewal_limit whatever their count', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('history-budget');
  const historyBudget = 60;
  // Started the way the service starts permits, with a history budget small enough to reach in seconds.
  const options = permitStartOptions({
    resource,
    slot: 0,
    capacity: 1,
    leaseMs: 60_000,
    maxHoldMs: service.config.limits.maxHoldMs,
    maxRenewals: 1_000,
    historyBudget,
    holder: null,
    taskQueue: service.config.temporal.taskQueue,
  });
  const handle = await service.client.workflow.start(PERMIT_WORKFLOW_TYPE, options);
  t.after(() => handle.terminate('test over').catch(() => undefined));

  let accepted = 0;
  let refusal: unknown;
  while (accepted < 100) {
    try {
      await handle.executeUpdate(renewUpdate, { args: [{}] });
      accepted++;
    } catch (error) {
      refusal = error;
      break;
    }
  }
  assert.ok(refusal instanceof WorkflowUpdateFailedError, `renewals went on: ${accepted} accepted`);
  assert.equal((refusal.cause as { type?: string }).type, RENEWAL_LIMIT);
  assert.match(String(refusal.cause?.message), /has \d+ history events, near the most Temporal keeps for one run/);
  const { historyLength, status } = await handle.describe();
  assert.equal(status.name, 'RUNNING', 'the permit is still held');
  // The validator sees the history as of its workflow task, give or take that task's own events.
  assert.ok(Math.abs(historyLength - historyBudget) <= 8, `history of ${historyLength} events at the refusal (budget ${historyBudget})`);
});

test('renewed by PermitKeeper every third of its lease, a permit\'s history grows by about 7 events a renewal, not 8', async (t) => {
  const service = await startTestService(t, {}, { listen: true });
  const client = new LockClient({ url: service.url! });
  const permit = await client.acquire(uniqueResource('renewal-cost-keeper'), { leaseMs: 3_000 });
  const handle = service.client.workflow.getHandle(permit.workflowId, permit.runId);
  const lengths: number[] = [];
  let measuring = Promise.resolve();
  const keeper = new PermitKeeper(client, permit, {
    onEvent: (event) => {
      if (event.type !== 'renewed') return;
      measuring = measuring.then(async () => {
        lengths.push((await handle.describe()).historyLength);
      });
    },
  });
  keeper.start();
  t.after(() => keeper.stop());
  await until(async () => lengths.length >= 9, '9 renewals by the keeper', 30_000);
  await keeper.stop();
  assert.equal(keeper.lost.aborted, false);
  // From the first renewal on: by then the run's first workflow task (which arms the timer) is done.
  const perRenewal = (lengths[8]! - lengths[0]!) / 8;
  t.diagnostic(`${perRenewal} history events per renewal`);
  assert.ok(perRenewal <= 7.25, `${perRenewal} history events per renewal (8 when every renewal restarts the lease timer)`);
  await client.release(permit.runId);
});
