// @temporalio/common is the pure package @temporalio/workflow is built on; this error class lives only there.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ApplicationFailure,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  log,
  proxyActivities,
  sleep,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { permitWorkflowId, shuffledSlots } from '../permit-id.js';
import {
  CAPACITY_CONFLICT,
  DEFAULT_MAX_RENEWALS,
  PERMIT_HISTORY_BUDGET,
  PERMIT_WORKFLOW_TASK_TIMEOUT_MS,
  permitMemo,
  releaseSignal,
  type CapacityActivities,
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
  /** Slots one round tries at most, picked at random; default 8. Each try adds about 5 events to the history. */
  slotsPerRound?: number;
  /**
   * History length (events) that acquire() never waits past; default 10,000, far below Temporal's
   * limit of 51,200 per run. acquire() also stops when Temporal suggests continuing as new.
   */
  waitHistoryBudget?: number;
  /**
   * Task queue of the lock service's workers, which confirm each claim against the resource's
   * capacity record; default: this workflow's own task queue.
   */
  serviceTaskQueue?: string;
}

/** The ApplicationFailure type acquire() throws when waiting longer would grow the history past its budget. */
export const WAIT_BUDGET_SPENT = 'SemaphoreWaitBudgetSpent';

/**
 * True for the failure acquire() (and withPermit()) throws when the wait has used up the history
 * budget: no permit is held, and the calling workflow should continue as new and acquire again.
 */
export function isWaitBudgetSpent(error: unknown): boolean {
  return error instanceof ApplicationFailure && error.type === WAIT_BUDGET_SPENT;
}

/** History events one round may add: a try is a child start and its failure plus a workflow task, and so is the sleep. */
const EVENTS_PER_TRY = 5;

/**
 * True for the failure acquire() throws when the Semaphore's capacity is not the one in force for
 * the resource (its holders have another; see the service's capacity rule). No permit is held.
 */
export function isCapacityConflict(error: unknown): boolean {
  return error instanceof ApplicationFailure && error.type === CAPACITY_CONFLICT;
}

export interface WorkflowPermit {
  resource: string;
  slot: number;
  runId: string;
  workflowId: string;
  /**
   * The permit's fencing number, as HTTP holders get it (larger for every later grant of the slot);
   * undefined only when the worker that confirmed the claim runs a lock service from before fencing numbers.
   */
  fencingSeq: string | undefined;
  handle: ChildWorkflowHandle<typeof permitWorkflow>;
}

/**
 * The acquirer for callers that are Temporal workflows. Permits are child workflows with
 * ParentClosePolicy TERMINATE, so a parent that dies frees its slots without waiting for the lease.
 * It claims the same `permit:<resource>:<slot>` IDs as the HTTP service, so both kinds share one limit.
 */
export class Semaphore {
  private readonly options: Required<Omit<SemaphoreOptions, 'holder' | 'serviceTaskQueue'>> & {
    holder: string | null;
    serviceTaskQueue: string | undefined;
  };

  constructor(
    readonly resource: string,
    options: SemaphoreOptions,
  ) {
    this.options = {
      leaseMs: 30_000,
      maxHoldMs: 86_400_000,
      initialBackoffMs: 100,
      maxBackoffMs: 2_000,
      slotsPerRound: 8,
      waitHistoryBudget: 10_000,
      ...options,
      holder: options.holder ?? null,
      serviceTaskQueue: options.serviceTaskQueue,
    };
  }

  /**
   * Waits until a slot is free and claims it. A wait lives in this workflow's history, which Temporal
   * caps, so before each round it checks that the round fits in the history budget; when it does not,
   * it throws an ApplicationFailure of type WAIT_BUDGET_SPENT (see isWaitBudgetSpent) holding nothing,
   * and the caller continues as new to wait on with a fresh history.
   */
  async acquire(): Promise<WorkflowPermit> {
    let backoffMs = this.options.initialBackoffMs;
    for (;;) {
      this.throwIfRoundWouldPassBudget();
      const permit = await this.tryAcquire();
      if (permit) return permit;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, this.options.maxBackoffMs);
    }
  }

  private throwIfRoundWouldPassBudget(): void {
    const { capacity, slotsPerRound, waitHistoryBudget } = this.options;
    const { historyLength, continueAsNewSuggested } = workflowInfo();
    const roundEvents = EVENTS_PER_TRY * (Math.min(capacity, slotsPerRound) + 1);
    if (continueAsNewSuggested || historyLength + roundEvents > waitHistoryBudget) {
      throw ApplicationFailure.nonRetryable(
        `waiting longer for a permit on "${this.resource}" would grow this workflow's history (${historyLength} events) ` +
          `past its budget (${continueAsNewSuggested ? 'Temporal suggests continuing as new' : `waitHistoryBudget ${waitHistoryBudget}`}); ` +
          'no permit is held: continue as new and acquire again',
        WAIT_BUDGET_SPENT,
      );
    }
  }

  /**
   * Tries up to slotsPerRound slots once, picked at random to spread contention (all of them on a
   * resource no larger than that); undefined when those are held. On a larger resource a free slot
   * may be missed by one round: acquire() finds it in a later one.
   */
  async tryAcquire(): Promise<WorkflowPermit | undefined> {
    const { capacity, leaseMs, maxHoldMs, holder, slotsPerRound } = this.options;
    for (const slot of shuffledSlots(capacity).slice(0, slotsPerRound)) {
      const workflowId = permitWorkflowId(this.resource, slot);
      const input: PermitWorkflowInput = {
        resource: this.resource,
        slot,
        capacity,
        leaseMs,
        maxHoldMs,
        maxRenewals: DEFAULT_MAX_RENEWALS,
        historyBudget: PERMIT_HISTORY_BUDGET,
        holder,
      };
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
        const claim = { resource: this.resource, slot, runId: handle.firstExecutionRunId, workflowId, handle };
        return { ...claim, fencingSeq: await this.confirmCapacity(claim) };
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) continue;
        throw error;
      }
    }
    return undefined;
  }

  /**
   * A claim counts only once the lock service has confirmed it against the resource's capacity
   * record, as it does for its own claims: callers that disagree on the capacity are never both
   * granted. A claim under a capacity not in force is given back before acquire() returns. The
   * confirmation also reads the permit's fencing number, which it returns.
   */
  private async confirmCapacity(permit: Omit<WorkflowPermit, 'fencingSeq'>): Promise<string | undefined> {
    const { capacity, serviceTaskQueue } = this.options;
    const { confirmPermitCapacity } = proxyActivities<CapacityActivities>({
      taskQueue: serviceTaskQueue ?? workflowInfo().taskQueue,
      startToCloseTimeout: '30s',
      // Temporal unavailable, or a capacity change still settling: ask again, while holding the claim.
      retry: { initialInterval: '200ms', maximumInterval: '5s' },
      scheduleToCloseTimeout: '10m',
    });
    const verdict = await confirmPermitCapacity({ resource: this.resource, capacity, workflowId: permit.workflowId, runId: permit.runId });
    if (verdict.ok) return verdict.fencingSeq;
    await this.release(permit);
    throw ApplicationFailure.nonRetryable(verdict.message, CAPACITY_CONFLICT, { capacityInForce: verdict.capacityInForce });
  }

  /**
   * Ends the permit's run and waits until it has closed, so the slot is free when this returns.
   * Returns "expired" when the lease ran out first: the holder's exclusive use ended before it was done.
   */
  async release(permit: Pick<WorkflowPermit, 'workflowId' | 'handle'>): Promise<PermitOutcome> {
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
