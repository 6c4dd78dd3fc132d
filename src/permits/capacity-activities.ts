import type { CapacityActivities } from '../temporal/messages.js';
import type { CapacityRecords } from './capacity-records.js';
import { DomainError } from './errors.js';
import type { FencingSeqReader } from './fencing-seq.js';

/** However long its activity may run, a confirmation gives a capacity change in progress this long to settle. */
const SETTLE_PATIENCE_MS = 10_000;

/**
 * The activities the service's worker runs for workflow-side Semaphores: a claim made with a
 * child workflow is confirmed against the capacity record exactly as an HTTP claim is. A conflict
 * is an answer, not a failure; anything else (Temporal unavailable, a change still settling)
 * fails the attempt, and the activity's retry policy tries again. A confirmed claim's answer carries
 * its fencing number: a workflow cannot read its child's start event itself.
 */
export function createCapacityActivities(records: CapacityRecords, fencingSeqs: FencingSeqReader): CapacityActivities {
  return {
    async confirmPermitCapacity({ resource, capacity, workflowId, runId }) {
      try {
        await records.settle(resource, capacity, Date.now() + SETTLE_PATIENCE_MS);
        if (workflowId === undefined || runId === undefined) return { ok: true };
        return { ok: true, fencingSeq: await fencingSeqs.of(workflowId, runId) };
      } catch (error) {
        if (error instanceof DomainError && error.code === 'capacity_conflict' && error.extra.capacityInForce !== undefined) {
          return { ok: false, capacityInForce: error.extra.capacityInForce, message: error.message };
        }
        throw error;
      }
    },
  };
}
