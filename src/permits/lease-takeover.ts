import { WorkflowNotFoundError, type WorkflowExecutionDescription } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { PERMIT_WORKFLOW_TASK_TIMEOUT_MS } from '../temporal/messages.js';
import { EXPIRED_TAKEOVER_PREFIX } from './close-reasons.js';
import { isPermitMemo, leaseEndMs } from './permit.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { toDomainError } from './temporal-errors.js';

// A lease ends on its own only when a worker fires the run's timer. With no worker running (every
// replica down, or only API replicas up) a run stays open past its lease and keeps its slot until
// the max-hold backstop. An acquire that finds such a run ends it itself, so lease expiry does not
// depend on any worker.
//
// Why the grace: a renewal is validated at the start of its workflow task (server clock) and commits
// only if that task completes within the run's workflow task timeout. So once the lease end plus
// that timeout has passed on the server, no renewal can still commit, and the lease the run records
// is final. The grace covers that timeout plus clock skew between this replica and the server; it
// is counted on this replica's clock from before the describe is sent, so the describe read the
// run no earlier than that.

/** What the slot's holding run turned out to be. */
export type SlotCheck =
  /** Held: its lease runs, or ended less than the grace ago (leaseEndMs undefined: not a permit run). */
  | { state: 'held'; leaseEndMs: number | undefined }
  /** This acquire ended the run, whose lease had ended longer than the grace ago: the slot is free. */
  | { state: 'ended' }
  /** The run closed on its own before it could be judged: the slot is free. */
  | { state: 'closed' };

export interface LeaseTakeoverOptions {
  rpc: TemporalRpc;
  graceMs: number;
  metrics: Metrics;
  log: Logger;
  /** Told of each run this replica ended as expired. */
  ended?(workflowId: string, runId: string, holder: string | null): void;
}

/** Temporal's own default, assumed for a run whose description does not say (never shorter: that could end a renewed run). */
const TEMPORAL_DEFAULT_WORKFLOW_TASK_TIMEOUT_MS = 10_000;

/** Reads a protobuf Duration (seconds may be a Long) as milliseconds. */
function durationMs(duration: { seconds?: unknown; nanos?: number | null } | null | undefined): number | undefined {
  if (!duration) return undefined;
  return Number(duration.seconds ?? 0) * 1_000 + Math.round((duration.nanos ?? 0) / 1e6);
}

/** The terminate reason: the run's close record in Temporal says it ended as expired, and why. */
export function expiredTakeoverReason(leaseEndMs: number, graceMs: number): string {
  return (
    `${EXPIRED_TAKEOVER_PREFIX} the lease ended at ${new Date(leaseEndMs).toISOString()} and no worker had closed the run; ` +
    `an acquire ended it more than ${graceMs} ms later`
  );
}

/**
 * Decides, for a slot whose start failed, whether its run is past its lease by more than the grace,
 * and if so ends exactly that run. It describes the run only when the caller knows no lease end for
 * the slot that is still within the grace, so a held slot costs about one describe per lease.
 */
export class LeaseTakeover {
  constructor(private readonly options: LeaseTakeoverOptions) {}

  /** Checks the run holding `workflowId`; `knownLeaseEndMs` is what this replica already knows of its lease. */
  async check(workflowId: string, knownLeaseEndMs: number | undefined): Promise<SlotCheck> {
    const { rpc, graceMs, metrics } = this.options;
    // A known lease end is a lower bound (a renewal elsewhere only moves it later), so while it is
    // within the grace the run cannot be ended yet and a describe would learn nothing that matters.
    if (knownLeaseEndMs !== undefined && Date.now() <= knownLeaseEndMs + graceMs) {
      return { state: 'held', leaseEndMs: knownLeaseEndMs };
    }
    const describedFrom = Date.now();
    let run: WorkflowExecutionDescription;
    try {
      // No runId: the run that holds the slot now.
      run = await rpc.call(() => rpc.client.workflow.getHandle(workflowId).describe());
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return this.counted({ state: 'closed' });
      throw toDomainError(error);
    }
    if (run.status.name !== 'RUNNING') return this.counted({ state: 'closed' });
    if (!isPermitMemo(run.memo)) return this.counted({ state: 'held', leaseEndMs: undefined });
    const leaseEnd = leaseEndMs(run.startTime, run.memo);
    if (describedFrom <= leaseEnd + this.graceFor(run)) return this.counted({ state: 'held', leaseEndMs: leaseEnd });

    try {
      await rpc.call(() => rpc.client.workflow.getHandle(workflowId, run.runId).terminate(expiredTakeoverReason(leaseEnd, graceMs)));
    } catch (error) {
      // Closed in the meantime (a worker caught up, or another acquire ended it first).
      if (error instanceof WorkflowNotFoundError) return this.counted({ state: 'closed' });
      throw toDomainError(error);
    }
    metrics.expiredLeaseChecks.inc({ result: 'ended' });
    this.options.ended?.(workflowId, run.runId, run.memo.holder ?? null);
    this.options.log.info(
      { workflowId, runId: run.runId, leaseEnd: new Date(leaseEnd).toISOString(), graceMs },
      'ended a permit run past its lease that no worker had closed',
    );
    return { state: 'ended' };
  }

  /**
   * The grace for one run: the configured one, longer by however much the run's own workflow task
   * timeout exceeds the one this service starts runs with (runs started elsewhere or by an older
   * version may carry Temporal's default of 10 s).
   */
  private graceFor(run: WorkflowExecutionDescription): number {
    const taskTimeoutMs = durationMs(run.raw.executionConfig?.defaultWorkflowTaskTimeout) ?? TEMPORAL_DEFAULT_WORKFLOW_TASK_TIMEOUT_MS;
    return this.options.graceMs + Math.max(0, taskTimeoutMs - PERMIT_WORKFLOW_TASK_TIMEOUT_MS);
  }

  private counted(check: SlotCheck): SlotCheck {
    this.options.metrics.expiredLeaseChecks.inc({ result: check.state });
    return check;
  }
}
