import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type WorkflowStartOptions } from '@temporalio/client';
import type { PermitMemo, PermitWorkflowInput } from '../temporal/messages.js';
import type { permitWorkflow } from '../temporal/workflows/permit.js';
import { permitWorkflowId } from './permit-id.js';

/** The workflow's input, and the task queue its worker polls. */
export interface PermitStart extends PermitWorkflowInput {
  taskQueue: string;
}

/**
 * The options of the workflow start that claims a slot: FAIL on a running run is what makes the claim
 * atomic, ALLOW_DUPLICATE lets a slot be claimed again after its run closed. The benchmark's raw
 * baseline uses the same options, so it measures the same start.
 */
export function permitStartOptions(start: PermitStart): WorkflowStartOptions<typeof permitWorkflow> {
  const { taskQueue, ...input } = start;
  const { resource, slot, capacity, leaseMs, holder } = input;
  const memo: PermitMemo = { resource, slot, capacity, holder, leaseMs };
  return {
    workflowId: permitWorkflowId(resource, slot),
    taskQueue,
    args: [input],
    memo: { ...memo },
    // Backstop: the server ends the run at the maximum hold even if no worker ever runs it again.
    workflowExecutionTimeout: input.maxHoldMs,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
  };
}
