import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { PERMIT_WORKFLOW_TYPE, type PermitStartDelay } from '../temporal/messages.js';
import { permitWorkflowId } from '../temporal/permit-id.js';
import type { permitWorkflow } from '../temporal/workflows/permit.js';
import { NOT_DELIVERED_PREFIX } from './close-reasons.js';
import type { EagerStarter } from './eager-starter.js';
import type { FencingSeqReader } from './fencing-seq.js';
import type { LeaseTakeover } from './lease-takeover.js';
import type { Permit } from './permit.js';
import { permitStartOptions } from './permit-start.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { toDomainError } from './temporal-errors.js';

/** What a slot claim asks for. */
export interface SlotRequest {
  capacity: number;
  leaseMs: number;
  holder: string | null;
  /** The acquiring API key's name; null or absent when the service checks no keys. */
  owner?: string | null | undefined;
}

/** How one slot claim ended. */
export type ClaimResult =
  | { outcome: 'granted'; permit: Permit }
  /** Another run holds the slot; leaseEndMs is its lease end when known. */
  | { outcome: 'busy'; leaseEndMs: number | undefined }
  /**
   * The start succeeded, but its answer came back with (almost) none of the lease left, so the permit
   * was not delivered and its run was ended (`ended` false: the end failed and the lease will end it).
   */
  | { outcome: 'late'; ended: boolean };

export interface SlotClaimerOptions {
  rpc: TemporalRpc;
  taskQueue: string;
  maxHoldMs: number;
  maxRenewals: number;
  /** Whether the runs hold their first workflow task back until their lease would end. */
  startDelay: PermitStartDelay;
  /** Ends a run found past its lease by more than the grace, so the slot can be claimed. */
  takeover: LeaseTakeover;
  /** Reads a new run's fencing number, which its permit must carry. */
  fencingSeqs: FencingSeqReader;
  /** Starts runs eagerly once this process's worker runs (TEMPORAL_EAGER_START); undefined: plain starts. */
  eagerStarter?: (() => EagerStarter | undefined) | undefined;
  metrics: Metrics;
  log: Logger;
  /** Told of every permit granted, so later calls with its runId need no lookup. */
  granted(permit: Permit): void;
}

/**
 * The least lease a permit must still have, by this replica's clock, when its start is answered, or
 * it is not delivered: the caller needs time to use it, and the answer still has to reach it.
 */
export function deliveryMarginMs(leaseMs: number): number {
  return Math.max(200, leaseMs / 10);
}

/**
 * Claims one slot with one workflow start. Temporal refuses a second running workflow with the same
 * ID, so the start is atomic: it succeeds for exactly one claimant, and "already started" means busy,
 * unless the holding run is past its lease with no worker to close it: then the claim ends that run
 * and starts once more.
 */
export class SlotClaimer {
  constructor(private readonly options: SlotClaimerOptions) {}

  /** Claims the slot; `knownLeaseEndMs` is the lease end this replica knows for its current holder. */
  async claim(resource: string, slot: number, request: SlotRequest, knownLeaseEndMs?: number): Promise<ClaimResult> {
    const first = await this.start(resource, slot, request);
    if (first.outcome !== 'busy') return first;
    const check = await this.options.takeover.check(permitWorkflowId(resource, slot), knownLeaseEndMs);
    if (check.state === 'held') return { outcome: 'busy', leaseEndMs: check.leaseEndMs };
    // The slot has just been freed, by this acquire or on its own; another acquire may still be quicker.
    return this.start(resource, slot, request);
  }

  private async start(resource: string, slot: number, request: SlotRequest): Promise<ClaimResult> {
    const { rpc, taskQueue, maxHoldMs, maxRenewals, startDelay, metrics, log } = this.options;
    const { capacity, leaseMs, holder } = request;
    const owner = request.owner ?? null;
    const options = permitStartOptions({
      resource,
      slot,
      capacity,
      leaseMs,
      maxHoldMs,
      maxRenewals,
      holder,
      ...(owner !== null && { owner }),
      taskQueue,
      startDelay,
    });
    const { workflowId } = options;
    // Taken before the start request is sent: the server starts the lease no earlier, so the
    // expiresAt reported from it can only be earlier than the moment the slot really frees.
    const sentAtMs = Date.now();
    let runId: string;
    let startedWith: string | undefined;
    const eager = this.options.eagerStarter?.();
    try {
      if (eager) {
        const started = await rpc.callOn(eager.connection, () => eager.startEagerly(PERMIT_WORKFLOW_TYPE, options));
        runId = started.runId;
        startedWith = started.fencingSeq;
      } else {
        const handle = await rpc.call(() => rpc.client.workflow.start<typeof permitWorkflow>(PERMIT_WORKFLOW_TYPE, options));
        runId = handle.firstExecutionRunId;
      }
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        metrics.slotAttempts.inc({ result: 'busy' });
        return { outcome: 'busy', leaseEndMs: undefined };
      }
      throw toDomainError(error);
    }
    if (startedWith !== undefined) this.options.fencingSeqs.remember(runId, startedWith);
    const fencingSeq = startedWith ?? (await this.readFencingSeq(workflowId, runId));
    const expiresAtMs = sentAtMs + leaseMs;
    const leftMs = expiresAtMs - Date.now();
    if (leftMs < deliveryMarginMs(leaseMs)) {
      metrics.slotAttempts.inc({ result: 'late' });
      log.warn(
        { resource, slot, runId, leaseMs, answeredAfterMs: Date.now() - sentAtMs },
        'the start (and its fencing number) was answered too late to deliver its lease; ending the run instead of granting it',
      );
      return { outcome: 'late', ended: await this.endUndelivered(workflowId, runId, leaseMs, leftMs) };
    }
    metrics.slotAttempts.inc({ result: 'claimed' });
    const permit: Permit = {
      runId,
      fencingToken: runId,
      fencingSeq,
      workflowId,
      resource,
      slot,
      capacity,
      leaseMs,
      holder,
      acquiredAt: new Date(sentAtMs).toISOString(),
      expiresAt: new Date(expiresAtMs).toISOString(),
      owner,
    };
    this.options.granted(permit);
    log.info({ resource, slot, runId, fencingSeq, holder, leaseMs, by: owner ?? undefined }, 'permit acquired');
    return { outcome: 'granted', permit };
  }

  /**
   * The new run's fencing number (one history read; the start's answer does not carry it). A permit
   * without its number is never delivered: when the read fails, the run is ended and the caller
   * hears why (a waiter keeps waiting through a transient failure).
   */
  private async readFencingSeq(workflowId: string, runId: string): Promise<string> {
    const { metrics, log } = this.options;
    try {
      return await this.options.fencingSeqs.of(workflowId, runId);
    } catch (error) {
      metrics.slotAttempts.inc({ result: 'unnumbered' });
      log.warn({ err: error, workflowId, runId }, 'could not read the fencing number of a new permit run; ending the run instead of granting it');
      await this.end(workflowId, runId, `${NOT_DELIVERED_PREFIX} its fencing number could not be read, so no caller ever held this permit`);
      throw toDomainError(error);
    }
  }

  /** Ends a run nobody will hear of; true when the slot is free again. */
  private endUndelivered(workflowId: string, runId: string, leaseMs: number, leftMs: number): Promise<boolean> {
    const reason =
      `${NOT_DELIVERED_PREFIX} the start was answered with ${Math.round(leftMs)} ms of its ${leaseMs} ms lease left ` +
      `(less than the ${deliveryMarginMs(leaseMs)} ms margin), so no caller ever held this permit`;
    return this.end(workflowId, runId, reason);
  }

  private async end(workflowId: string, runId: string, reason: string): Promise<boolean> {
    const { rpc, log } = this.options;
    try {
      await rpc.call(() => rpc.client.workflow.getHandle(workflowId, runId).terminate(reason));
      return true;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return true;
      log.warn({ err: error, workflowId, runId }, 'could not end an undelivered permit run; its lease will end it');
      return false;
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
