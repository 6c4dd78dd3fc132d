import assert from 'node:assert/strict';
import { test } from 'node:test';
import proto from '@temporalio/proto';
import { metric } from '../helpers/metrics.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

// With PERMIT_START_DELAY=lease (the default) a permit run holds its first workflow task back until
// its lease would end. A permit released before then costs Temporal a start and a terminate only;
// a renewal's update runs the first task at once; a permit nobody renews or releases runs its first
// task at the lease end and finds the lease over.

const EventType = proto.temporal.api.enums.v1.EventType;

async function eventTypes(service: TestService, workflowId: string, runId: string): Promise<number[]> {
  const { events } = await service.client.workflow.getHandle(workflowId, runId).fetchHistory();
  return (events ?? []).map((event) => Number(event.eventType));
}

/** True while the run's first workflow task is still held back by its start delay. */
async function inStartDelay(service: TestService, workflowId: string, runId: string): Promise<boolean> {
  const { raw } = await service.client.workflow.getHandle(workflowId, runId).describe();
  const info = raw.workflowExecutionInfo;
  const executionMs = Number(info?.executionTime?.seconds ?? 0) * 1_000;
  return executionMs > Date.now() && (await eventTypes(service, workflowId, runId)).length === 1;
}

test('a permit released before its lease ends costs Temporal a start and a terminate: its run never runs a workflow task', async (t) => {
  const service = await startTestService(t);
  const acquired = await service.call('POST', `/resources/${uniqueResource('early-release')}/acquire`, { leaseMs: 30_000 });
  assert.equal(acquired.status, 201);
  const { workflowId, runId } = acquired.body;
  assert.ok(await inStartDelay(service, workflowId, runId), 'the run holds its first workflow task back until the lease would end');
  assert.equal((await service.call('GET', `/permits/${runId}`)).status, 200, 'the permit is held meanwhile');

  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
  assert.deepEqual(await eventTypes(service, workflowId, runId), [
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
  ]);
});

test("a renewal runs the permit's held-back first workflow task at once, and the renewed lease holds past the original end", async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('renew-in-delay');
  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 3_000 });
  assert.equal(acquired.status, 201);
  const { workflowId, runId, expiresAt } = acquired.body;
  assert.ok(await inStartDelay(service, workflowId, runId));

  const renewed = await service.call('POST', `/permits/${runId}/renew`, { leaseMs: 60_000 });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.ok(Date.now() < Date.parse(expiresAt), 'the renewal was answered before the original lease end, not at the end of the delay');
  assert.ok(Date.parse(renewed.body.expiresAt) > Date.parse(expiresAt) + 50_000);

  // Past the original lease end the slot stays held: the start delay's end changes nothing.
  const waiter = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: Date.parse(expiresAt) - Date.now() + 3_000 });
  assert.equal(waiter.status, 409, `the renewed permit's slot was granted to another caller: ${JSON.stringify(waiter.body)}`);
  assert.equal((await service.call('GET', `/permits/${runId}`)).status, 200);
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
});

test('a renewal refused while the first workflow task is held back leaves the lease as it was: the permit ends at its lease end', async (t) => {
  const service = await startTestService(t, { MAX_RENEWALS: '0' });
  const resource = uniqueResource('refused-in-delay');
  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 2_000 });
  assert.equal(acquired.status, 201);
  const { workflowId, runId, expiresAt } = acquired.body;
  assert.ok(await inStartDelay(service, workflowId, runId));

  const refused = await service.call('POST', `/permits/${runId}/renew`);
  assert.equal(refused.status, 409, JSON.stringify(refused.body));
  assert.equal(refused.body.error, 'renewal_limit');

  // The refused update's workflow task leaves no trace, and the delay's end still runs the first task.
  const next = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 15_000 });
  assert.equal(next.status, 201, JSON.stringify(next.body));
  assert.ok(Date.now() >= Date.parse(expiresAt), 'granted only after the first lease ended');
  const first = await service.client.workflow.getHandle(workflowId, runId).describe();
  assert.equal(first.status.name, 'COMPLETED');
  assert.equal(first.memo?.outcome, 'expired');
  assert.equal((await service.call('DELETE', `/permits/${next.body.runId}`)).status, 204);
});

test('PERMIT_START_DELAY=none runs the first workflow task at once', async (t) => {
  const service = await startTestService(t, { PERMIT_START_DELAY: 'none' });
  const acquired = await service.call('POST', `/resources/${uniqueResource('no-delay')}/acquire`, { leaseMs: 30_000 });
  assert.equal(acquired.status, 201);
  const { workflowId, runId } = acquired.body;
  const { raw } = await service.client.workflow.getHandle(workflowId, runId).describe();
  const info = raw.workflowExecutionInfo;
  assert.equal(Number(info?.executionTime?.seconds ?? 0), Number(info?.startTime?.seconds ?? -1), 'no start delay');
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
});

test('with TEMPORAL_EAGER_START a grant takes its fencing number from the eager workflow task, with no history read', async (t) => {
  const service = await startTestService(t, { PERMIT_START_DELAY: 'none', TEMPORAL_EAGER_START: 'true' });
  const acquired = await service.call('POST', `/resources/${uniqueResource('eager')}/acquire`, { leaseMs: 30_000 });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  const { workflowId, runId, fencingSeq } = acquired.body;
  assert.equal(await metric(service, 'lock_fencing_seq_read_duration_seconds_count'), 0, 'no history read for the fencing number');

  const { events } = await service.client.workflow.getHandle(workflowId, runId).fetchHistory();
  assert.equal(fencingSeq, String(events![0]!.taskId), "the fencing number is the start event's task ID");
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
});
