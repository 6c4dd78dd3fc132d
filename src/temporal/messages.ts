// The permit workflow's contract, shared by the workflow, the service and the tests.
import { defineSignal, defineUpdate } from '@temporalio/workflow';

export const PERMIT_WORKFLOW_TYPE = 'permitWorkflow';

/**
 * The workflow task timeout of every permit run. A renewal is validated at its workflow task's start
 * (server clock) and commits within this time or not at all, so an acquire may end a run only when
 * its lease ended longer ago than this (plus clock skew): EXPIRED_LEASE_GRACE_MS must exceed it.
 * Permit workflow tasks do microseconds of work; a worker that needs longer is retried, not trusted.
 */
export const PERMIT_WORKFLOW_TASK_TIMEOUT_MS = 2_000;

/**
 * How long a permit run's first workflow task waits. `lease`: until the lease would end, so a permit
 * released before then costs Temporal a start and a terminate only (no workflow task, no timer); a
 * renewal's update runs the first task at once. `none`: the task runs at once and arms the lease timer.
 */
export const PERMIT_START_DELAYS = ['lease', 'none'] as const;
export type PermitStartDelay = (typeof PERMIT_START_DELAYS)[number];

export interface PermitWorkflowInput {
  resource: string;
  slot: number;
  capacity: number;
  leaseMs: number;
  /** Also the run's workflowExecutionTimeout; renewals never extend a lease past it. */
  maxHoldMs: number;
  /** Renewals the run accepts in all (MAX_RENEWALS when it started); undefined in runs started before the limit existed. */
  maxRenewals: number;
  /**
   * History length (events) at which the run refuses renewals whatever their count: a backstop well under
   * Temporal's limit of 51,200 events per run, which would end the run while its holder still held it.
   */
  historyBudget: number;
  holder: string | null;
  /**
   * The name of the API key that acquired the permit (never the key or its hash); only that key or an
   * admin may release or renew it. Absent on runs of workflow holders, of a service without keys, and
   * of versions before keys existed.
   */
  owner?: string | undefined;
}

export type PermitOutcome = 'released' | 'expired';

/** What the Web UI and `describe` show for a permit run. */
export interface PermitMemo {
  resource: string;
  slot: number;
  capacity: number;
  holder: string | null;
  leaseMs: number;
  /** The acquiring API key's name (see PermitWorkflowInput.owner); set at the start, never changed. */
  owner?: string;
  /** Written by the workflow on renewal; before that the lease ends at start time + leaseMs. */
  expiresAt?: string;
  /** Renewals so far, written by the workflow on renewal. */
  renewals?: number;
  /** Written by the workflow as it completes on its own. */
  outcome?: PermitOutcome;
}

/** The memo a permit run starts with; the service and the workflow-side Semaphore both start runs with it. */
export function permitMemo(input: PermitWorkflowInput): PermitMemo {
  const { resource, slot, capacity, holder, leaseMs, owner } = input;
  // Left out rather than undefined when there is none: a memo field holds a payload, and undefined has none.
  return { resource, slot, capacity, holder, leaseMs, ...(owner !== undefined && { owner }) };
}

export interface RenewRequest {
  /** Defaults to the lease length the permit was acquired with. */
  leaseMs?: number;
}

export interface RenewResult {
  leaseMs: number;
  expiresAt: string;
}

/** Error types the renew validator rejects with (ApplicationFailure.type). */
export const LEASE_EXPIRED = 'LeaseExpired';
export const MAX_HOLD_EXCEEDED = 'MaxHoldExceeded';
export const RENEWAL_LIMIT = 'RenewalLimit';

/**
 * The renewals one permit accepts by default (MAX_RENEWALS). A renewal adds 6 to 8 events to the run's
 * history (7 on average when renewed every third of the lease), so 5,000 renewals stay under 40,000 events.
 */
export const DEFAULT_MAX_RENEWALS = 5_000;

/** The history length past which a permit refuses renewals whatever their count (the backstop). */
export const PERMIT_HISTORY_BUDGET = 45_000;

export const renewUpdate = defineUpdate<RenewResult, [RenewRequest]>('renew');

/** Release for holders that are workflows themselves; they cannot terminate another workflow. */
export const releaseSignal = defineSignal('release');

export interface ConfirmCapacityInput {
  resource: string;
  /** The capacity the workflow claimed its slot under. */
  capacity: number;
  /** The claimed permit run, whose fencing number the answer carries (absent from Semaphores of older code). */
  workflowId?: string;
  runId?: string;
}

/**
 * ok: the claim stands, and `fencingSeq` is the permit's fencing number (absent when the input named
 * no run, or from workers of older code); otherwise another capacity is in force and the claim must
 * be given back.
 */
export type ConfirmCapacityResult = { ok: true; fencingSeq?: string } | { ok: false; capacityInForce: number; message: string };

/**
 * Activities the lock service's workers run for workflow callers: the workflow-side Semaphore
 * confirms each claim against the resource's capacity record, as the HTTP path does.
 */
export interface CapacityActivities {
  confirmPermitCapacity(input: ConfirmCapacityInput): Promise<ConfirmCapacityResult>;
}

/** ApplicationFailure type the Semaphore throws when the capacity it was given is not the one in force. */
export const CAPACITY_CONFLICT = 'CapacityConflict';
