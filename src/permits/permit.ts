import type { PermitMemo } from '../temporal/messages.js';
import type { PermitEndState } from './errors.js';

/** Temporal run IDs are UUIDs; anything else cannot be a permit token. */
export const RUN_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Fencing numbers are int64 task IDs; they travel as decimal strings, which no JSON parser rounds. */
export { FENCING_SEQ_PATTERN } from 'temporal-lock-client/wire';

/** A granted permit as the API reports it. `fencingToken` equals `runId`. */
export interface Permit {
  runId: string;
  fencingToken: string;
  /** Larger for every later grant of the same slot (fencing-seq.ts): a decimal int64. */
  fencingSeq: string;
  workflowId: string;
  resource: string;
  slot: number;
  capacity: number;
  leaseMs: number;
  holder: string | null;
  acquiredAt: string;
  expiresAt: string;
  /** The name of the API key that acquired it; null when none was recorded (see PermitMemo.owner). Never sent to callers. */
  owner: string | null;
}

export interface HeldPermit extends Permit {
  state: 'held';
}

/** Rebuilds a permit from what Temporal stores: the run's memo, its start time and its start event's task ID. */
export function permitFromRun(
  run: { workflowId: string; runId: string; startTime: Date },
  memo: PermitMemo,
  fencingSeq: string,
): Permit {
  const expiresAtMs = leaseEndMs(run.startTime, memo);
  return {
    runId: run.runId,
    fencingToken: run.runId,
    fencingSeq,
    workflowId: run.workflowId,
    resource: memo.resource,
    slot: memo.slot,
    capacity: memo.capacity,
    leaseMs: memo.leaseMs,
    holder: memo.holder ?? null,
    acquiredAt: run.startTime.toISOString(),
    expiresAt: new Date(expiresAtMs).toISOString(),
    owner: typeof memo.owner === 'string' ? memo.owner : null,
  };
}

/** True when the memo has every field a permit run is started with. */
export function isPermitMemo(memo: Record<string, unknown> | undefined): memo is Record<string, unknown> & PermitMemo {
  return (
    !!memo &&
    typeof memo.resource === 'string' &&
    typeof memo.slot === 'number' &&
    typeof memo.capacity === 'number' &&
    typeof memo.leaseMs === 'number'
  );
}

/** When the lease ends: the last renewal's expiry, else start time + lease length (both server clock). */
export function leaseEndMs(startTime: Date, memo: PermitMemo): number {
  return memo.expiresAt ? Date.parse(memo.expiresAt) : startTime.getTime() + memo.leaseMs;
}

export interface RunSummary {
  status: { name: string };
  startTime: Date;
  closeTime?: Date | undefined;
  memo?: Record<string, unknown> | undefined;
}

/** True when a described run is a permit that is running and whose lease has not run out. */
export function isHeld(run: RunSummary, now: number = Date.now()): run is RunSummary & { memo: PermitMemo } {
  return run.status.name === 'RUNNING' && isPermitMemo(run.memo) && leaseEndMs(run.startTime, run.memo) > now;
}

/**
 * What a permit run that is no longer held means to its holder. A run still open past its lease
 * waits for a worker to close it, and a terminate that came after the lease ended does not make
 * the permit "released": in both cases the lease ran out first.
 */
export function endStateOf(run: RunSummary): PermitEndState {
  const memo = isPermitMemo(run.memo) ? run.memo : undefined;
  switch (run.status.name) {
    case 'RUNNING':
      return 'expired';
    case 'COMPLETED':
      return memo?.outcome === 'expired' ? 'expired' : 'released';
    case 'TIMED_OUT':
    case 'FAILED':
      return 'expired';
    case 'TERMINATED':
      return memo && run.closeTime && run.closeTime.getTime() >= leaseEndMs(run.startTime, memo) ? 'expired' : 'released';
    default:
      return 'released';
  }
}
