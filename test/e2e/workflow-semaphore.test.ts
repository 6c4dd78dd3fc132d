import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { PERMIT_WORKFLOW_TASK_TIMEOUT_MS } from '../../src/temporal/messages.js';
import type { exampleConsumerWorkflow } from '../../src/temporal/workflows/example-consumer.js';
import { until } from '../helpers/metrics.js';
import { startTestService, uniqueResource } from '../helpers/service.js';

test('a workflow holder and HTTP callers share one limit, and a parent that dies frees its permit at once', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wf');
  const consumer = await service.client.workflow.start<typeof exampleConsumerWorkflow>('exampleConsumerWorkflow', {
    taskQueue: service.config.temporal.taskQueue,
    workflowId: `consumer-${randomUUID()}`,
    args: [{ resource, capacity: 1, workMs: 120_000, holder: 'workflow holder' }],
  });
  t.after(() => consumer.terminate('test over').catch(() => undefined));

  let held: any[] = [];
  for (let attempt = 0; attempt < 100 && held.length === 0; attempt++) {
    held = (await service.call('GET', `/resources/${resource}?capacity=1`)).body.held;
    if (held.length === 0) await delay(100);
  }
  assert.equal(held.length, 1);
  assert.equal(held[0].holder, 'workflow holder');
  // The same short workflow task timeout as the service's runs: an acquire ending an expired run relies on it.
  const child = await service.client.workflow.getHandle(held[0].workflowId, held[0].runId).describe();
  const taskTimeout = child.raw.executionConfig?.defaultWorkflowTaskTimeout;
  assert.equal(Number(taskTimeout?.seconds ?? 0) * 1_000 + (taskTimeout?.nanos ?? 0) / 1e6, PERMIT_WORKFLOW_TASK_TIMEOUT_MS);

  const busy = await service.call('POST', `/resources/${resource}/acquire`, {});
  assert.equal(busy.status, 409, 'the workflow holder counts against the HTTP callers\' capacity');

  // ParentClosePolicy TERMINATE: the permit goes with its parent, long before its 240 s lease.
  await consumer.terminate('simulated crash of the holder');
  const acquired = await service.call('POST', `/resources/${resource}/acquire`, { waitMs: 10_000 });
  assert.equal(acquired.status, 201);
  const ended = await service.call('GET', `/permits/${held[0].runId}`);
  assert.equal(ended.status, 410);
  assert.equal(ended.body.state, 'released');
});

test('a long wait on a large, full resource keeps each waiting run\'s history under its budget by continuing as new', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wf-budget');
  const capacity = 40;
  const budget = 200;
  const held: Array<{ runId: string; slot: number }> = [];
  for (let i = 0; i < capacity; i++) {
    const acquired = await service.call('POST', `/resources/${resource}/acquire`, { capacity, leaseMs: 120_000 });
    assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
    held.push(acquired.body);
  }
  const workflowId = `consumer-${randomUUID()}`;
  const first = await service.client.workflow.start<typeof exampleConsumerWorkflow>('exampleConsumerWorkflow', {
    taskQueue: service.config.temporal.taskQueue,
    workflowId,
    args: [{ resource, capacity, workMs: 100, holder: 'patient workflow', waitHistoryBudget: budget }],
  });
  t.after(() => service.client.workflow.getHandle(workflowId).terminate('test over').catch(() => undefined));

  /** The run that continued `runId`, once it has; read from its ContinuedAsNew event, without visibility. */
  const successorOf = async (runId: string): Promise<string> => {
    const handle = service.client.workflow.getHandle(workflowId, runId);
    for (let attempt = 0; ; attempt++) {
      const { status, historyLength } = await handle.describe();
      if (status.name === 'CONTINUED_AS_NEW') {
        assert.ok(historyLength <= budget, `run ${runId} waited until its history had ${historyLength} events (budget ${budget})`);
        const events = (await handle.fetchHistory()).events ?? [];
        return String(events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId);
      }
      assert.equal(status.name, 'RUNNING');
      assert.ok(historyLength <= budget, `run ${runId} has ${historyLength} history events while waiting (budget ${budget})`);
      assert.ok(attempt < 300, `run ${runId} neither got a permit nor continued as new within 30 s`);
      await delay(100);
    }
  };
  // Three runs in a row wait and hand over to the next, each within the budget.
  let runId = first.firstExecutionRunId;
  for (let run = 0; run < 3; run++) runId = await successorOf(runId);

  const freed = held[17]!;
  assert.equal((await service.call('DELETE', `/permits/${freed.runId}`)).status, 204);
  const result = await service.client.workflow.getHandle(workflowId).result();
  assert.equal(result.slot, freed.slot, 'the waiting workflow took the slot that was freed');
  for (const permit of held) await service.call('DELETE', `/permits/${permit.runId}`);
});

test('a workflow holder and HTTP callers obey one capacity: whoever names another than the holders\' is refused', async (t) => {
  const service = await startTestService(t);

  // HTTP holders under capacity 5, slot 0 left free: a capacity-1 workflow claims slot 0, and the
  // service's confirmation refuses it.
  const resource = uniqueResource('wf-cap');
  const two = [];
  for (let i = 0; i < 2; i++) {
    const granted = await service.call('POST', `/resources/${resource}/acquire`, { capacity: 5, leaseMs: 60_000 });
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    two.push(granted.body);
  }
  const held = two.find((permit) => permit.slot !== 0)!;
  for (const permit of two.filter((other) => other !== held)) {
    assert.equal((await service.call('DELETE', `/permits/${permit.runId}`)).status, 204);
  }
  const refused = await service.client.workflow.start<typeof exampleConsumerWorkflow>('exampleConsumerWorkflow', {
    taskQueue: service.config.temporal.taskQueue,
    workflowId: `consumer-${randomUUID()}`,
    args: [{ resource, capacity: 1, workMs: 1_000, holder: 'capacity-1 workflow' }],
  });
  const failure = await refused.result().then(
    () => assert.fail('a capacity-1 workflow was granted a resource held under capacity 5'),
    (error: unknown) => error as WorkflowFailedError,
  );
  assert.ok(failure instanceof WorkflowFailedError);
  assert.ok(failure.cause instanceof ApplicationFailure && failure.cause.type === 'CapacityConflict', String(failure.cause));
  assert.match(failure.cause.message, /capacity 5 in force/);
  const view = await service.call('GET', `/resources/${resource}?capacity=5`);
  assert.deepEqual(view.body.held.map((permit: any) => permit.runId), [held.runId], 'the refused claim was given back');

  // A workflow holder under capacity 1: HTTP callers naming 5 are refused, naming none are busy.
  const mutex = uniqueResource('wf-mutex');
  const holder = await service.client.workflow.start<typeof exampleConsumerWorkflow>('exampleConsumerWorkflow', {
    taskQueue: service.config.temporal.taskQueue,
    workflowId: `consumer-${randomUUID()}`,
    args: [{ resource: mutex, capacity: 1, workMs: 120_000, holder: 'workflow mutex holder' }],
  });
  t.after(() => holder.terminate('test over').catch(() => undefined));
  // Held and confirmed: with no capacity given, the view reads the slots directly ("strong") only
  // once the resource's capacity record exists, which the workflow's confirmation makes.
  await until(async () => {
    const view = (await service.call('GET', `/resources/${mutex}`)).body;
    return view.consistency === 'strong' && view.capacity === 1 && view.held.length === 1;
  }, 'the workflow holds the mutex under capacity 1');
  const conflict = await service.call('POST', `/resources/${mutex}/acquire`, { capacity: 5 });
  assert.equal(conflict.status, 409, JSON.stringify(conflict.body));
  assert.equal(conflict.body.error, 'capacity_conflict');
  assert.equal(conflict.body.capacity, 1);
  assert.equal((await service.call('POST', `/resources/${mutex}/acquire`)).body.error, 'resource_busy');
});
