import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AcquireOutcome, Metrics } from '../metrics.js';
import { parsePermitWorkflowId, permitWorkflowId } from '../temporal/permit-id.js';
import {
  DomainError,
  capacityConflict,
  resourceBusy,
  shuttingDown,
  tooManyWaiters,
  waitEndedUnavailable,
} from './errors.js';
import type { Permit } from './permit.js';
import { SlotClaimer, type SlotRequest } from './slot-claimer.js';
import { SlotHintsCache, type CandidateLimits } from './slot-hints.js';
import { SlotWatcher } from './slot-watcher.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { WaitQueue, type PassReason, type WaitQueueHost } from './wait-queue.js';

export interface AcquireRequest {
  resource: string;
  capacity?: number | undefined;
  leaseMs?: number | undefined;
  waitMs?: number | undefined;
  holder?: string | undefined;
  /** Fires when the caller has gone away; waiting stops. */
  signal?: AbortSignal | undefined;
}

export interface AcquirerOptions {
  rpc: TemporalRpc;
  /** A client on a connection of its own for the slot watches' long-polls. */
  watchClient: Client;
  taskQueue: string;
  limits: Config['limits'];
  waiting: Config['waiting'];
  resourceCapacities: Record<string, number>;
  metrics: Metrics;
  log: Logger;
  /** Told of every permit granted. */
  granted(permit: Permit): void;
  /** Gives back a permit claimed for a waiter who left meanwhile. */
  release(runId: string): Promise<void>;
}

/** A new request tries every slot it has reason to think free, and re-checks a few it saw held. */
const ARRIVAL_PASS: CandidateLimits = { maxAttempts: 64, maxBusyRechecks: 16 };
/** After a slot was seen freed: that slot first, then any not known to be held. */
const FREED_PASS: CandidateLimits = { maxAttempts: 64, maxBusyRechecks: 0 };
/** The periodic probe for slots freed where this replica could not see it; small, it runs while nothing frees. */
const PROBE_PASS: CandidateLimits = { maxAttempts: 8, maxBusyRechecks: 8 };
/** Watches per waited-on resource; capacities up to this are watched whole. */
const WATCHES_PER_RESOURCE = 8;

function acquireOutcomeOf(error: unknown, callerLeft: boolean): AcquireOutcome {
  const code = error instanceof DomainError ? error.code : undefined;
  if (code === 'resource_busy') return callerLeft ? 'aborted' : 'busy';
  if (code === 'capacity_conflict') return 'conflict';
  if (code === 'too_many_waiters') return 'crowded';
  return 'error';
}

/**
 * Acquiring: which slot to try (per-resource hints), claiming it, and waiting for one to free (a FIFO
 * queue per resource, slot watches, the probe).
 */
export class Acquirer {
  private readonly claimer: SlotClaimer;
  private readonly hints = new SlotHintsCache();
  private readonly queues = new Map<string, WaitQueue>();
  private readonly watcher: SlotWatcher;
  /** Aborted at shutdown so waiting acquires answer at once instead of holding the HTTP server open. */
  private readonly closing = new AbortController();

  constructor(private readonly options: AcquirerOptions) {
    const { rpc, taskQueue, limits, metrics, log, granted } = options;
    this.claimer = new SlotClaimer({ rpc, taskQueue, maxHoldMs: limits.maxHoldMs, metrics, log, granted });
    this.watcher = new SlotWatcher(options.watchClient, options.waiting.maxSlotWatches);
  }

  /** Ends every wait in progress; called once at shutdown. */
  close(): void {
    this.closing.abort();
  }

  /** The capacity an acquire uses: the configured one (a different request is refused), else the requested one, else 1. */
  resolveCapacity(resource: string, requested: number | undefined): number {
    const configured = this.options.resourceCapacities[resource];
    if (configured !== undefined && requested !== undefined && requested !== configured) {
      throw capacityConflict(resource, configured, requested);
    }
    return configured ?? requested ?? 1;
  }

  /** Claims a free slot, waiting up to waitMs for one; throws resource_busy when none frees in time. */
  async acquire(request: AcquireRequest): Promise<Permit> {
    const started = process.hrtime.bigint();
    const { metrics } = this.options;
    const observe = (outcome: AcquireOutcome) => {
      metrics.acquires.inc({ outcome });
      metrics.acquireSeconds.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    try {
      const permit = await this.acquireOrThrow(request);
      observe('granted');
      return permit;
    } catch (error) {
      observe(acquireOutcomeOf(error, request.signal?.aborted ?? false));
      throw error;
    }
  }

  /** A slot was freed through this replica: waiters here get it before anyone else hears of it. */
  slotFreed(workflowId: string): void {
    const parsed = parsePermitWorkflowId(workflowId);
    if (!parsed) return;
    this.hints.peek(parsed.resource)?.markFree(parsed.slot);
    this.queues.get(parsed.resource)?.wake();
  }

  /** A permit was renewed through this replica: its slot stays held until the new lease end. */
  permitRenewed(permit: Permit): void {
    this.hints.peek(permit.resource)?.markBusy(permit.slot, Date.now(), Date.parse(permit.expiresAt));
  }

  private async acquireOrThrow(request: AcquireRequest): Promise<Permit> {
    const { limits, waiting, metrics } = this.options;
    const { resource } = request;
    const waitMs = request.waitMs ?? 0;
    const deadline = Date.now() + waitMs;
    const wanted: SlotRequest = {
      capacity: this.resolveCapacity(resource, request.capacity),
      leaseMs: request.leaseMs ?? limits.defaultLeaseMs,
      holder: request.holder ?? null,
    };
    if (this.closing.signal.aborted) throw shuttingDown();
    const busy = () => resourceBusy(resource, wanted.capacity, waitMs, 1);
    // First come, first served: while callers wait here, a newcomer queues behind them instead of
    // racing them for the next free slot.
    if (!this.queues.get(resource)?.size) {
      const permit = await this.searchSlots(resource, wanted, ARRIVAL_PASS);
      if (permit) return permit;
    }
    if (waitMs === 0 || request.signal?.aborted) throw busy();
    const queue = this.queueFor(resource);
    if (queue.size >= waiting.maxWaitersPerResource) {
      throw tooManyWaiters(resource, waiting.maxWaitersPerResource);
    }
    const stop = request.signal ? AbortSignal.any([request.signal, this.closing.signal]) : this.closing.signal;
    metrics.waiters.inc();
    try {
      return await queue.wait(wanted, deadline, stop, ({ lastPassError }) => {
        if (this.closing.signal.aborted) return shuttingDown();
        // When the last search failed, nobody knows whether every slot is held: say what happened.
        if (lastPassError && !request.signal?.aborted) return waitEndedUnavailable(resource, waitMs, lastPassError);
        return busy();
      });
    } finally {
      metrics.waiters.dec();
    }
  }

  /** The wait queue of a resource, made on first use and dropped when its last waiter leaves. */
  private queueFor(resource: string): WaitQueue {
    const existing = this.queues.get(resource);
    if (existing) return existing;
    const queue: WaitQueue = new WaitQueue(
      resource,
      this.waitQueueHost(resource),
      { probeMs: this.options.waiting.probeMs, maxWatches: WATCHES_PER_RESOURCE, log: this.options.log },
      () => {
        if (this.queues.get(resource) === queue && queue.size === 0) this.queues.delete(resource);
      },
    );
    this.queues.set(resource, queue);
    return queue;
  }

  private waitQueueHost(resource: string): WaitQueueHost {
    const { metrics, log } = this.options;
    return {
      attempt: async (wanted: SlotRequest, reason: PassReason) => {
        metrics.waitPasses.inc({ reason });
        try {
          return await this.searchSlots(resource, wanted, reason === 'probe' ? PROBE_PASS : FREED_PASS);
        } catch (error) {
          metrics.waitPassErrors.inc();
          throw error;
        }
      },
      hasFreedSlots: (capacity) => this.hints.get(resource, capacity).hasFreedSlots(),
      discard: (permit) => {
        log.info({ resource, runId: permit.runId }, 'waiter left while its slot was being claimed; releasing it');
        this.options.release(permit.runId).catch((error: unknown) =>
          log.warn({ err: error, runId: permit.runId }, 'could not release an undelivered permit; its lease will end it'),
        );
      },
      slotsToWatch: (capacity) => this.hints.get(resource, capacity).busySlotsByExpiry(Date.now()),
      watchSlot: (slot, signal) => {
        if (!this.watcher.hasRoom()) return undefined;
        metrics.slotWatches.inc();
        return this.watcher
          .untilClosed(permitWorkflowId(resource, slot), signal)
          .catch((error: unknown) => {
            if (!signal.aborted) metrics.slotWatchErrors.inc();
            throw error;
          })
          .finally(() => metrics.slotWatches.dec());
      },
      slotFreed: (slot) => this.hints.peek(resource)?.markFree(slot),
    };
  }

  /**
   * Tries the slots the hints suggest, one at a time, until a start succeeds. The atomic workflow start
   * is the only judge of "free"; the hints only choose the order, so they cost round trips, never safety.
   */
  private async searchSlots(resource: string, wanted: SlotRequest, limits: CandidateLimits): Promise<Permit | undefined> {
    const hints = this.hints.get(resource, wanted.capacity);
    for (const slot of hints.candidates(Date.now(), limits)) {
      hints.beginAttempt(slot);
      try {
        const permit = await this.claimer.claim(resource, slot, wanted);
        hints.markBusy(slot, Date.now(), permit && Date.parse(permit.expiresAt));
        if (permit) return permit;
      } finally {
        hints.endAttempt(slot);
      }
    }
    return undefined;
  }
}
