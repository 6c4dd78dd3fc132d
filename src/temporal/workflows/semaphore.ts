// @temporalio/common is the pure package @temporalio/workflow is built on; this error class lives only there.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  log,
  sleep,
  startChild,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { permitWorkflowId, shuffledSlots } from '../permit-id.js';
import {
  PERMIT_WORKFLOW_TASK_TIMEOUT_MS,
  permitMemo,
  releaseSignal,
  type PermitOutcome,
  type PermitWorkflowInput,
} from '../messages.js';
import type { permitWorkflow } from './permit.js';

export interface SemaphoreOptions {
  capacity: number;
  leaseMs?: number;
  maxHoldMs?: number;
  holder?: string;
  /** Sleep between rounds when every slot is held; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface WorkflowPermit {
  resource: string;
  slot: number;
  runId: string;
  workflowId: string;
  handle: ChildWorkflowHandle<typeof permitWorkflow>;
}

/**
 * The acquirer for callers that are Temporal workflows. Permits are child workflows with
 * ParentClosePolicy TERMINATE, so a parent that dies frees its slots without waiting for the lease.
 * It claims the same `permit:<resource>:<slot>` IDs as the HTTP service, so both kinds share one limit.
 */
export class Semaphore {
  private readonly options: Required<Omit<SemaphoreOptions, 'holder'>> & { holder: string | null };

  constructor(
    readonly resource: string,
    options: SemaphoreOptions,
  ) {
    this.options = {
      leaseMs: 30_000,
      maxHoldMs: 86_400_000,
      initialBackoffMs: 100,
      maxBackoffMs: 2_000,
      ...options,
      holder: options.holder ?? null,
    };
  }

  /** Waits until a slot is free and claims it. */
  async acquire(): Promise<WorkflowPermit> {
    let backoffMs = this.options.initialBackoffMs;
    for (;;) {
      const permit = await this.tryAcquire();
      if (permit) return permit;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs);
    }
  }

  /** Tries every slot once, in random order to spread contention; undefined when all are held. */
  async tryAcquire(): Promise<WorkflowPermit | undefined> {
    const { capacity, leaseMs, maxHoldMs, holder } = this.options;
    for (const slot of shuffledSlots(capacity)) {
      const workflowId = permitWorkflowId(this.resource, slot);
      const input: PermitWorkflowInput = { resource: this.resource, slot, capacity, leaseMs, maxHoldMs, holder };
      try {
        const handle = await startChild<typeof permitWorkflow>('permitWorkflow', {
          workflowId,
          args: [input],
          memo: { ...permitMemo(input) },
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          workflowExecutionTimeout: maxHoldMs,
          // The same bound as the service's runs: an acquire that ends an expired run relies on it.
          workflowTaskTimeout: PERMIT_WORKFLOW_TASK_TIMEOUT_MS,
        });
        return { resource: this.resource, slot, runId: handle.firstExecutionRunId, workflowId, handle };
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) continue;
        throw error;
      }
    }
    return undefined;
  }

  /**
   * Ends the permit's run and waits until it has closed, so the slot is free when this returns.
   * Returns "expired" when the lease ran out first: the holder's exclusive use ended before it was done.
   */
  async release(permit: WorkflowPermit): Promise<PermitOutcome> {
    try {
      await permit.handle.signal(releaseSignal);
    } catch {
      // Signalling a run that has already completed fails; its result below says how it ended.
    }
    const outcome = await permit.handle.result();
    if (outcome === 'expired') {
      log.warn('permit lease ran out before release; choose a longer leaseMs', { workflowId: permit.workflowId });
    }
    return outcome;
  }

  /** Runs fn while holding a permit, and releases it however fn ends. */
  async withPermit<T>(fn: (permit: WorkflowPermit) => Promise<T>): Promise<T> {
    const permit = await this.acquire();
    try {
      return await fn(permit);
    } finally {
      await this.release(permit);
    }
  }
}
