import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AcquireOutcome, Metrics } from '../metrics.js';
import type { PermitStartDelay } from '../temporal/messages.js';
import { parsePermitWorkflowId, permitWorkflowId } from '../temporal/permit-id.js';
import { CAPACITY_WITHDRAWN_REASON } from './close-reasons.js';
import { CapacityRecords, anySlotHeldDirect } from './capacity-records.js';
import { ClosedRunFeed, type ClosedPermitRun } from './closed-run-feed.js';
import {
  DomainError,
  capacityConflict,
  resourceBusy,
  shuttingDown,
  tooManyWaiters,
  waitEndedUnavailable,
} from './errors.js';
import type { EagerStarter } from './eager-starter.js';
import type { FencingSeqReader } from './fencing-seq.js';
import { LeaseTakeover } from './lease-takeover.js';
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
  /** The acquiring API key's name, recorded on the permit; only that key (or an admin) may release or renew it. */
  owner?: string | undefined;
  /** Fires when the caller has gone away; waiting stops. */
  signal?: AbortSignal | undefined;
}

export interface AcquirerOptions {
  rpc: TemporalRpc;
  /** Reads the fencing number every granted permit carries. */
  fencingSeqs: FencingSeqReader;
  /** A client on a connection of its own for the slot watches' long-polls. */
  watchClient: Client;
  taskQueue: string;
  limits: Config['limits'];
  waiting: Config['waiting'];
  resourceCapacities: Record<string, number>;
  /** Whether permit runs hold their first workflow task back until their lease would end. */
  startDelay: PermitStartDelay;
  /** The eager starter, once this process's worker runs and eager starts are on. */
  eagerStarter?: () => EagerStarter | undefined;
  /** How long a replica's lease on a capacity record lasts (CAPACITY_LEASE_MS). */
  capacityLeaseMs: number;
  /** The deadline of one Temporal call; shutdown waits this long for calls in the background. */
  rpcTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
  /** Told of every permit granted. */
  granted(permit: Permit): void;
  /** Gives back a permit claimed for a waiter who left meanwhile. */
  release(runId: string): Promise<void>;
  /** Told of each run an acquire ended because its lease had run out with no worker to close it. */
  expiredRunEnded?(workflowId: string, runId: string, holder: string | null): void;
}

/** A new request tries every slot it has reason to think free, and re-checks a few it saw held. */
const ARRIVAL_PASS: CandidateLimits = { maxAttempts: 64, maxBusyRechecks: 16 };
/** After a slot was seen freed: that slot first, then any not known to be held. */
const FREED_PASS: CandidateLimits = { maxAttempts: 64, maxBusyRechecks: 0 };
/** The periodic probe for slots freed where this replica could not see it; small, it runs while nothing frees. */
const PROBE_PASS: CandidateLimits = { maxAttempts: 8, maxBusyRechecks: 8 };
/**
 * After visibility listed closes: only those slots. A listed slot may have been taken again since, and
 * a miss must not set off a random search of a large pool (the probe does that, a few starts at a time).
 */
const CLOSED_PASS: CandidateLimits = { maxAttempts: 16, maxBusyRechecks: 0, maxUnmarked: 0 };
/** The slots a waiters' pass tries, by what prompted it. */
const PASSES: Record<PassReason, CandidateLimits> = {
  freed: FREED_PASS,
  closed: CLOSED_PASS,
  probe: PROBE_PASS,
  lease_end: FREED_PASS,
};
/** Watches per waited-on resource; capacities up to this are watched whole. */
const WATCHES_PER_RESOURCE = 8;
/** However short its waitMs, an acquire gives a capacity change in progress this long to settle. */
const CAPACITY_SETTLE_PATIENCE_MS = 2_000;
/** Slots this replica knows held that a capacity change's pre-check reads first, before reading them all. */
const KNOWN_HELD_CHECKS = 3;

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
  /** The capacity in force for each resource, as this replica may rely on it. */
  readonly capacities: CapacityRecords;
  private readonly hints = new SlotHintsCache();
  private readonly queues = new Map<string, WaitQueue>();
  private readonly watcher: SlotWatcher;
  /** Closes listed by visibility, for waiters on pools their watches do not cover. */
  private readonly closedRuns: ClosedRunFeed;
  /** Aborted at shutdown so waiting acquires answer at once instead of holding the HTTP server open. */
  private readonly closing = new AbortController();

  constructor(private readonly options: AcquirerOptions) {
    const { rpc, fencingSeqs, taskQueue, limits, metrics, log, granted } = options;
    const { maxHoldMs, maxRenewals } = limits;
    const takeover = new LeaseTakeover({
      rpc,
      graceMs: limits.expiredLeaseGraceMs,
      metrics,
      log,
      ended: (workflowId, runId, holder) => options.expiredRunEnded?.(workflowId, runId, holder),
    });
    const { startDelay, eagerStarter } = options;
    this.claimer = new SlotClaimer({ rpc, taskQueue, maxHoldMs, maxRenewals, startDelay, eagerStarter, takeover, fencingSeqs, metrics, log, granted });
    this.watcher = new SlotWatcher(options.watchClient, options.waiting.maxSlotWatches);
    this.closedRuns = new ClosedRunFeed({
      rpc,
      intervalMs: options.waiting.probeMs,
      wanted: () => {
        if (this.queues.size === 0) return undefined;
        return [...this.queues.values()].filter((queue) => queue.unwatchedSlotsRemain).map((queue) => queue.resource);
      },
      closed: (run) => this.runClosed(run),
      metrics,
      log,
    });
    this.capacities = new CapacityRecords({
      rpc,
      watchClient: options.watchClient,
      taskQueue,
      leaseMs: options.capacityLeaseMs,
      rpcTimeoutMs: options.rpcTimeoutMs,
      metrics,
      log,
      anySlotHeld: (resource, capacity) => this.anySlotHeld(resource, capacity),
    });
  }

  /** Ends every wait in progress and stops following capacity records; called once at shutdown. */
  async close(): Promise<void> {
    this.closing.abort();
    this.closedRuns.close();
    await this.capacities.close(this.options.rpcTimeoutMs);
  }

  /**
   * The capacity an acquire uses: the one in force for the resource. A request naming another gets
   * capacity_conflict, unless nobody holds the resource, which then takes the requested capacity.
   * Once this replica trusts the resource's record, this costs no call.
   */
  async resolveCapacity(resource: string, requested: number | undefined, waitMs: number): Promise<number> {
    const configured = this.options.resourceCapacities[resource];
    if (configured !== undefined && requested !== undefined && requested !== configured) {
      throw capacityConflict(resource, configured, requested, true);
    }
    const wanted = configured ?? requested;
    const trusted = this.capacities.trustedCapacity(resource);
    if (trusted !== undefined && (wanted === undefined || wanted === trusted)) return trusted;
    return this.capacities.settle(resource, wanted, Date.now() + Math.max(waitMs, CAPACITY_SETTLE_PATIENCE_MS));
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

  /** The acquires waiting on this replica, by resource, with the capacity the first of them waits under. */
  waitingByResource(): Map<string, { waiting: number; capacity: number }> {
    const waiting = new Map<string, { waiting: number; capacity: number }>();
    for (const [resource, queue] of this.queues) {
      const capacity = queue.headCapacity;
      if (capacity !== undefined) waiting.set(resource, { waiting: queue.size, capacity });
    }
    return waiting;
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
    this.hints.peek(permit.resource)?.markBusy(permit.slot, Date.now(), Date.parse(permit.expiresAt), permit.runId);
  }

  /** Visibility listed a closed run of a resource waited on here: its slot is tried first. */
  private runClosed({ resource, slot, runId }: ClosedPermitRun): void {
    const queue = this.queues.get(resource);
    const capacity = queue?.headCapacity;
    if (!queue || capacity === undefined) return;
    if (this.hints.get(resource, capacity).markClosed(slot, runId)) queue.wake('closed');
  }

  private async acquireOrThrow(request: AcquireRequest): Promise<Permit> {
    const { limits, waiting, metrics } = this.options;
    const { resource } = request;
    const waitMs = request.waitMs ?? 0;
    const deadline = Date.now() + waitMs;
    if (this.closing.signal.aborted) throw shuttingDown();
    const wanted: SlotRequest = {
      capacity: await this.resolveCapacity(resource, request.capacity, waitMs),
      leaseMs: request.leaseMs ?? limits.defaultLeaseMs,
      holder: request.holder ?? null,
      owner: request.owner ?? null,
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
    this.closedRuns.start();
    return queue;
  }

  private waitQueueHost(resource: string): WaitQueueHost {
    const { metrics, log } = this.options;
    return {
      attempt: async (wanted: SlotRequest, reason: PassReason) => {
        metrics.waitPasses.inc({ reason });
        try {
          return await this.searchSlots(resource, wanted, PASSES[reason]);
        } catch (error) {
          metrics.waitPassErrors.inc();
          throw error;
        }
      },
      hasFreedSlots: (capacity) => this.hints.get(resource, capacity).hasFreedSlots(),
      nextLeaseEndCheckAt: (capacity) => {
        // With no worker running, nothing closes a run at its lease end and no watch fires: the pump
        // looks again once the earliest known lease end is past the grace, and may end that run.
        const graceMs = this.options.limits.expiredLeaseGraceMs;
        const leaseEnd = this.hints.get(resource, capacity).earliestLeaseEndAfter(Date.now() - graceMs);
        return leaseEnd === undefined ? undefined : leaseEnd + graceMs + 1;
      },
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
      refusesOnly: (error, request) =>
        error instanceof DomainError &&
        error.code === 'capacity_conflict' &&
        error.extra.capacityInForce !== undefined &&
        request.capacity !== error.extra.capacityInForce,
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
        const result = await this.claimer.claim(resource, slot, wanted, hints.knownLeaseEnd(slot));
        if (result.outcome === 'granted') {
          hints.markBusy(slot, Date.now(), Date.parse(result.permit.expiresAt), result.permit.runId);
          return await this.confirmCapacity(result.permit);
        }
        if (result.outcome === 'late') {
          // Temporal answers slower than the lease lasts: more starts in this pass would be as late.
          // A waiter's queue tries the slot again at once (it is marked freed); a try-once acquire is busy.
          if (result.ended) hints.markFree(slot);
          return undefined;
        }
        hints.markBusy(slot, Date.now(), result.leaseEndMs);
      } finally {
        hints.endAttempt(slot);
      }
    }
    return undefined;
  }

  /**
   * A claim counts only if, after it, this replica still trusts a record of the permit's capacity:
   * a capacity change checks the slots only once no replica trusts the old record, so a claim
   * confirmed here is one that check sees. Without trust the record is asked again; a claim under a
   * capacity no longer in force is ended before anyone hears of it.
   */
  private async confirmCapacity(permit: Permit): Promise<Permit> {
    const { resource, capacity } = permit;
    if (this.capacities.trustedCapacity(resource) === capacity) return permit;
    try {
      await this.capacities.settle(resource, capacity, Date.now() + CAPACITY_SETTLE_PATIENCE_MS);
      return permit;
    } catch (error) {
      await this.claimer.withdraw(permit, CAPACITY_WITHDRAWN_REASON);
      this.hints.peek(resource)?.markFree(permit.slot);
      throw error;
    }
  }

  /**
   * Whether any run holds one of the slots: first the few this replica knows held (one describe
   * each), then every slot. Only a capacity change asks, and a change is rare.
   */
  private async anySlotHeld(resource: string, capacity: number): Promise<boolean> {
    const workflowIdOf = (slot: number) => permitWorkflowId(resource, slot);
    const known = this.hints.peek(resource)?.busySlotsByExpiry(Date.now()).filter((slot) => slot < capacity) ?? [];
    for (const slot of known.slice(0, KNOWN_HELD_CHECKS)) {
      if (await anySlotHeldDirect(this.options.rpc, () => workflowIdOf(slot), 1)) return true;
    }
    return anySlotHeldDirect(this.options.rpc, workflowIdOf, capacity);
  }
}
