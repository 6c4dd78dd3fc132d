import type { PermitMemo } from '../temporal/messages.js';

/** Temporal run IDs are UUIDs; anything else cannot be a permit token. */
export const RUN_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A granted permit as the API reports it. `fencingToken` equals `runId`. */
export interface Permit {
  runId: string;
  fencingToken: string;
  workflowId: string;
  resource: string;
  slot: number;
  capacity: number;
  leaseMs: number;
  holder: string | null;
  acquiredAt: string;
  expiresAt: string;
}

export interface HeldPermit extends Permit {
  state: 'held';
}

/** Rebuilds a permit from what Temporal stores: the run's memo and its start time. */
export function permitFromRun(
  run: { workflowId: string; runId: string; startTime: Date },
  memo: PermitMemo,
): Permit {
  const expiresAtMs = memo.expiresAt ? Date.parse(memo.expiresAt) : run.startTime.getTime() + memo.leaseMs;
  return {
    runId: run.runId,
    fencingToken: run.runId,
    workflowId: run.workflowId,
    resource: memo.resource,
    slot: memo.slot,
    capacity: memo.capacity,
    leaseMs: memo.leaseMs,
    holder: memo.holder ?? null,
    acquiredAt: run.startTime.toISOString(),
    expiresAt: new Date(expiresAtMs).toISOString(),
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
