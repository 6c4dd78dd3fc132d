import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import type { permitWorkflow } from '../temporal/workflows/permit.js';
import type { Permit } from './permit.js';
import { permitStartOptions } from './permit-start.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { toDomainError } from './temporal-errors.js';

/** What a slot claim asks for. */
export interface SlotRequest {
  capacity: number;
  leaseMs: number;
  holder: string | null;
}

export interface SlotClaimerOptions {
  rpc: TemporalRpc;
  taskQueue: string;
  maxHoldMs: number;
  maxRenewals: number;
  metrics: Metrics;
  log: Logger;
  /** Told of every permit granted, so later calls with its runId need no lookup. */
  granted(permit: Permit): void;
}

/**
 * Claims one slot with one workflow start. Temporal refuses a second running workflow with the same
 * ID, so the start is atomic: it succeeds for exactly one claimant, and "already started" means busy.
 */
export class SlotClaimer {
  constructor(private readonly options: SlotClaimerOptions) {}

  /** The permit when the slot was free, undefined when it is held. */
  async claim(resource: string, slot: number, request: SlotRequest): Promise<Permit | undefined> {
    const { rpc, taskQueue, maxHoldMs, maxRenewals, metrics, log } = this.options;
    const { capacity, leaseMs, holder } = request;
    const options = permitStartOptions({ resource, slot, capacity, leaseMs, maxHoldMs, maxRenewals, holder, taskQueue });
    const { workflowId } = options;
    // Taken before the start request is sent: the server starts the lease no earlier, so the
    // expiresAt reported from it can only be earlier than the moment the slot really frees.
    const sentAtMs = Date.now();
    try {
      const handle = await rpc.call(() => rpc.client.workflow.start<typeof permitWorkflow>(PERMIT_WORKFLOW_TYPE, options));
      metrics.slotAttempts.inc({ result: 'claimed' });
      const runId = handle.firstExecutionRunId;
      const permit: Permit = {
        runId,
        fencingToken: runId,
        workflowId,
        resource,
        slot,
        capacity,
        leaseMs,
        holder,
        acquiredAt: new Date(sentAtMs).toISOString(),
        expiresAt: new Date(sentAtMs + leaseMs).toISOString(),
      };
      this.options.granted(permit);
      log.info({ resource, slot, runId, holder, leaseMs }, 'permit acquired');
      return permit;
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        metrics.slotAttempts.inc({ result: 'busy' });
        return undefined;
      }
      throw toDomainError(error);
    }
  }

  /** Ends a claim that must not be delivered; a run that has already closed needs nothing. */
  async withdraw(permit: Permit, reason: string): Promise<void> {
    const { rpc, log } = this.options;
    try {
      await rpc.call(() => rpc.client.workflow.getHandle(permit.workflowId, permit.runId).terminate(reason));
      log.info({ resource: permit.resource, slot: permit.slot, runId: permit.runId }, reason);
    } catch (error) {
      log.warn({ err: error, runId: permit.runId }, 'could not end an undelivered claim; its lease will end it');
    }
  }
}
