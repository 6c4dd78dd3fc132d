import type { PermitMemo } from '../temporal/messages.js';
import { leaseEndMs } from './permit.js';

// Every terminate the service sends carries a reason that starts with one of these, so a run's close
// record says how its permit ended. The history reads them back: keep them stable, since runs closed
// by older code keep the reason they were given.

/** A holder's release through the HTTP API (followed by ` (release <uuid>)`). */
export const RELEASE_REASON = 'released through the lock service API';
/** An acquire ended a run whose lease had run out and that no worker had closed. */
export const EXPIRED_TAKEOVER_PREFIX = 'expired:';
/** The start was answered too late to deliver: nobody ever held the permit. */
export const NOT_DELIVERED_PREFIX = 'not delivered:';
/** The claim was withdrawn because the resource's capacity changed under it: nobody ever held the permit. */
export const CAPACITY_WITHDRAWN_REASON = 'claimed while the capacity of its resource changed; never delivered';
/**
 * An admin ended someone else's permit (POST /permits/{runId}/force-release): the reason reads
 * `force-released by <key name>: <reason> (release <id>)`.
 */
export const FORCE_RELEASE_PREFIX = 'force-released by ';

/** How a past permit ended, as the history reports it. */
export { PERMIT_OUTCOMES, type PermitOutcome } from 'temporal-lock-client/wire';
import type { PermitOutcome } from 'temporal-lock-client/wire';

/** What a closed permit run was: a permit that ended one way or another, or a claim nobody ever held. */
export type ClosedRunKind = PermitOutcome | 'undelivered';

export interface ClosedRun {
  /** Temporal's execution status name: COMPLETED, TERMINATED, TIMED_OUT, FAILED, CANCELED, … */
  status: string;
  startTime: Date;
  closeTime: Date;
  memo: PermitMemo;
  /** The terminate reason of a TERMINATED run (from its close event); undefined for any other status. */
  terminateReason?: string | undefined;
}

/** True when only the close event (the terminate reason) can tell how the run ended. */
export function needsCloseReason(status: string): boolean {
  return status === 'TERMINATED';
}

/**
 * How a closed permit run ended. A release that came after the lease had already run out (no worker
 * had closed the run yet) counts as expired, as the API told the releaser (410 expired).
 */
export function closedRunKind(run: ClosedRun): ClosedRunKind {
  switch (run.status) {
    case 'COMPLETED':
      // Completed by the workflow itself: at its lease end, or on the workflow-side Semaphore's release signal.
      return run.memo.outcome === 'expired' ? 'expired' : 'released';
    case 'TIMED_OUT':
      return 'max_hold';
    case 'TERMINATED': {
      const reason = run.terminateReason ?? '';
      if (reason.startsWith(NOT_DELIVERED_PREFIX) || reason === CAPACITY_WITHDRAWN_REASON) return 'undelivered';
      if (reason.startsWith(EXPIRED_TAKEOVER_PREFIX)) return 'expired';
      if (reason.startsWith(FORCE_RELEASE_PREFIX)) return 'force_released';
      if (reason.startsWith(RELEASE_REASON)) {
        return run.closeTime.getTime() >= leaseEndMs(run.startTime, run.memo) ? 'expired' : 'released';
      }
      return 'terminated';
    }
    default:
      return 'terminated';
  }
}
