import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PERMIT_WORKFLOW_TASK_TIMEOUT_MS } from '../../src/temporal/messages.js';
import type { exampleConsumerWorkflow } from '../../src/temporal/workflows/example-consumer.js';
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
