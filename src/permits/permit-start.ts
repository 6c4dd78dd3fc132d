import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type WorkflowStartOptions } from '@temporalio/client';
import {
  PERMIT_HISTORY_BUDGET,
  PERMIT_WORKFLOW_TASK_TIMEOUT_MS,
  permitMemo,
  type PermitStartDelay,
  type PermitWorkflowInput,
} from '../temporal/messages.js';
import type { permitWorkflow } from '../temporal/workflows/permit.js';
import { permitWorkflowId } from '../temporal/permit-id.js';

/** The workflow's input, and the task queue its worker polls. */
export interface PermitStart extends Omit<PermitWorkflowInput, 'historyBudget'> {
  taskQueue: string;
  /** The history backstop; PERMIT_HISTORY_BUDGET unless a test wants to reach it quickly. */
  historyBudget?: number | undefined;
  /** `lease` holds the first workflow task back until the lease would end (see PERMIT_START_DELAYS). */
  startDelay?: PermitStartDelay | undefined;
}

/**
 * The options of the workflow start that claims a slot: FAIL on a running run is what makes the claim
 * atomic, ALLOW_DUPLICATE lets a slot be claimed again after its run closed. The benchmark's raw
 * baseline uses the same options, so it measures the same start.
 */
export function permitStartOptions(start: PermitStart): WorkflowStartOptions<typeof permitWorkflow> {
  const { taskQueue, historyBudget = PERMIT_HISTORY_BUDGET, startDelay = 'none', ...rest } = start;
  const input: PermitWorkflowInput = { ...rest, historyBudget };
  return {
    workflowId: permitWorkflowId(input.resource, input.slot),
    taskQueue,
    args: [input],
    memo: { ...permitMemo(input) },
    // Backstop: the server ends the run at the maximum hold even if no worker ever runs it again.
    workflowExecutionTimeout: input.maxHoldMs,
    // Bounds how long after the lease end a renewal accepted just before it can still commit.
    workflowTaskTimeout: PERMIT_WORKFLOW_TASK_TIMEOUT_MS,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    // The run holds its workflow ID (the claim) from the start; the delay only holds back its first
    // workflow task, which a release before the lease end then never needs. The workflow counts the
    // lease from the start, so the task that runs at the delay's end finds the lease over.
    ...(startDelay === 'lease' && { startDelay: input.leaseMs }),
  };
}
