import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AcquireOutcome, Metrics } from '../metrics.js';
import {
  LEASE_EXPIRED,
  MAX_HOLD_EXCEEDED,
  PERMIT_WORKFLOW_TYPE,
  renewUpdate,
} from '../temporal/messages.js';
import type { permitWorkflow } from '../temporal/workflows/permit.js';
import {
  DomainError,
  capacityConflict,
  maxHoldExceeded,
  permitEnded,
  permitNotFound,
  resourceBusy,
  shuttingDown,
  tooManyWaiters,
  type PermitEndState,
} from './errors.js';
import { parsePermitWorkflowId, permitWorkflowId } from './permit-id.js';
import { PermitLocator } from './permit-locator.js';
import { endStateOf, isPermitMemo, permitFromRun, type HeldPermit, type Permit } from './permit.js';
import { SlotHintsCache, type CandidateLimits } from './slot-hints.js';
import { SlotWatcher } from './slot-watcher.js';
import { permitStartOptions } from './permit-start.js';
import { toDomainError } from './temporal-errors.js';
import { WaitQueue, type PassReason, type WaitQueueHost, type WaitRequest } from './wait-queue.js';

export interface PermitServiceOptions {
  client: Client;
  /** A client on a connection of its own for the slot watches' long-polls (defaults to `client`). */
  watchClient?: Client | undefined;
  taskQueue: string;
  limits: Config['limits'];
  waiting: Config['waiting'];
  resourceCapacities: Record<string, number>;
  rpcTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
}

export interface AcquireRequest {
  resource: string;
  capacity?: number | undefined;
  leaseMs?: number | undefined;
  waitMs?: number | undefined;
  holder?: string | undefined;
  /** Fires when the caller has gone away; waiting stops. */
  signal?: AbortSignal | undefined;
}

export interface ResourceView {
  resource: string;
  capacity: number;
  held: Permit[];
  /** "strong" when every slot was read directly, "eventual" when listed from Temporal visibility. */
  consistency: 'strong' | 'eventual';
}

const RELEASE_REASON = 'released through the lock service API';
/** Up to this capacity a resource view describes every slot directly instead of asking visibility. */
const DIRECT_VIEW_MAX_CAPACITY = 64;
/** A new request tries every slot it has reason to think free, and re-checks a few it saw held. */
const ARRIVAL_PASS: CandidateLimits = { maxAttempts: 64, maxBusyRechecks: 16 };
/** After a slot was seen freed: that slot first, then any not known to be held. */
const FREED_PASS: CandidateLimits = { maxAttempts: 64, maxBusyRechecks: 0 };
/** The periodic probe for slots freed where this replica could not see it; small, it runs while nothing frees. */
const PROBE_PASS: CandidateLimits = { maxAttempts: 8, maxBusyRechecks: 8 };
/** Watches per waited-on resource; capacities up to this are watched whole. */
const WATCHES_PER_RESOURCE = 8;

async function mapWithConcurrency<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

function acquireOutcomeOf(error: unknown, callerLeft: boolean): AcquireOutcome {
  const code = error instanceof DomainError ? error.code : undefined;
  if (code === 'resource_busy') return callerLeft ? 'aborted' : 'busy';
  if (code === 'capacity_conflict') return 'conflict';
  if (code === 'too_many_waiters') return 'crowded';
  return 'error';
}

/** Acquire, release, renew and inspect permits; the only module that talks to Temporal for the API. */
export class PermitService {
  private readonly locator: PermitLocator;
  private readonly hints = new SlotHintsCache();
  private readonly queues = new Map<string, WaitQueue>();
  private readonly watcher: SlotWatcher;
  /** Aborted at shutdown so waiting acquires answer at once instead of holding the HTTP server open. */
  private readonly closing = new AbortController();

  /** The service as the configuration describes it. */
  static fromConfig(
    config: Config,
    clients: { client: Client; watchClient?: Client },
    metrics: Metrics,
    log: Logger,
  ): PermitService {
    return new PermitService({
      ...clients,
      taskQueue: config.temporal.taskQueue,
      limits: config.limits,
      waiting: config.waiting,
      resourceCapacities: config.resourceCapacities,
      rpcTimeoutMs: config.temporal.rpcTimeoutMs,
      metrics,
      log,
    });
  }

  constructor(private readonly options: PermitServiceOptions) {
    this.locator = new PermitLocator(
      options.client,
      options.limits.visibilityLookupWaitMs,
      (call) => this.rpc(call),
      options.log,
    );
    this.watcher = new SlotWatcher(options.watchClient ?? options.client, options.waiting.maxSlotWatches);
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

  private async acquireOrThrow(request: AcquireRequest): Promise<Permit> {
    const { limits, waiting, metrics } = this.options;
    const { resource } = request;
    const waitMs = request.waitMs ?? 0;
    const deadline = Date.now() + waitMs;
    const wanted: WaitRequest = {
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
      return await queue.wait(wanted, deadline, stop, () => (this.closing.signal.aborted ? shuttingDown() : busy()));
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
      attempt: (wanted: WaitRequest, reason: PassReason) => {
        metrics.waitPasses.inc({ reason });
        return this.searchSlots(resource, wanted, reason === 'probe' ? PROBE_PASS : FREED_PASS);
      },
      hasFreedSlots: (capacity) => this.hints.get(resource, capacity).hasFreedSlots(),
      discard: (permit) => {
        log.info({ resource, runId: permit.runId }, 'waiter left while its slot was being claimed; releasing it');
        this.release(permit.runId).catch((error: unknown) =>
          log.warn({ err: error, runId: permit.runId }, 'could not release an undelivered permit; its lease will end it'),
        );
      },
      slotsToWatch: (capacity) => this.hints.get(resource, capacity).busySlotsByExpiry(Date.now()),
      watchSlot: (slot, signal) => {
        if (!this.watcher.hasRoom()) return undefined;
        metrics.slotWatches.inc();
        return this.watcher.untilClosed(permitWorkflowId(resource, slot), signal).finally(() => metrics.slotWatches.dec());
      },
      slotFreed: (slot) => this.hints.peek(resource)?.markFree(slot),
    };
  }

  /**
   * Tries the slots the hints suggest, one at a time, until a start succeeds. The atomic workflow start
   * is the only judge of "free"; the hints only choose the order, so they cost round trips, never safety.
   */
  private async searchSlots(resource: string, wanted: WaitRequest, limits: CandidateLimits): Promise<Permit | undefined> {
    const hints = this.hints.get(resource, wanted.capacity);
    for (const slot of hints.candidates(Date.now(), limits)) {
      hints.beginAttempt(slot);
      try {
        const permit = await this.tryStart(resource, slot, wanted.capacity, wanted.leaseMs, wanted.holder);
        hints.markBusy(slot, Date.now(), permit && Date.parse(permit.expiresAt));
        if (permit) return permit;
      } finally {
        hints.endAttempt(slot);
      }
    }
    return undefined;
  }

  /** A slot of this replica's was freed: waiters here get it before anyone else hears of it. */
  private noteSlotFreed(workflowId: string): void {
    const parsed = parsePermitWorkflowId(workflowId);
    if (!parsed) return;
    this.hints.peek(parsed.resource)?.markFree(parsed.slot);
    this.queues.get(parsed.resource)?.wake();
  }

  private async tryStart(
    resource: string,
    slot: number,
    capacity: number,
    leaseMs: number,
    holder: string | null,
  ): Promise<Permit | undefined> {
    const { client, taskQueue, limits, metrics, log } = this.options;
    const options = permitStartOptions({ resource, slot, capacity, leaseMs, maxHoldMs: limits.maxHoldMs, holder, taskQueue });
    const { workflowId } = options;
    // Taken before the start request is sent: the server starts the lease no earlier, so the
    // expiresAt reported from it can only be earlier than the moment the slot really frees.
    const sentAtMs = Date.now();
    try {
      const handle = await this.rpc(() => client.workflow.start<typeof permitWorkflow>(PERMIT_WORKFLOW_TYPE, options));
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
      this.locator.remember(permit);
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

  /** Ends the permit's run; its slot is free for the next acquire as soon as this returns. */
  async release(runId: string): Promise<void> {
    const workflowId = await this.workflowIdOrThrow(runId, 'release');
    try {
      await this.rpc(() => this.options.client.workflow.getHandle(workflowId, runId).terminate(RELEASE_REASON));
    } catch (error) {
      throw await this.explainFailure(error, 'release', workflowId, runId);
    }
    this.noteSlotFreed(workflowId);
    if (!this.cachedWithinLease(runId)) {
      // The run was open, but its lease may have run out before the terminate (no worker had closed it yet).
      const state = await this.stateOf(workflowId, runId);
      if (state === 'expired') {
        this.countOperation('release', 'ended');
        throw permitEnded(runId, 'expired');
      }
    }
    this.countOperation('release', 'ok');
    this.options.log.info({ runId, workflowId }, 'permit released');
  }

  /**
   * The cached permit when this replica knows its lease is still running. A cached expiry can only be
   * too early (another replica may have renewed since), never too late, so a hit needs no round trip.
   */
  private cachedWithinLease(runId: string): Permit | undefined {
    const cached = this.locator.cached(runId);
    return cached && Date.parse(cached.expiresAt) > Date.now() ? cached : undefined;
  }

  private async stateOf(workflowId: string, runId: string): Promise<PermitEndState> {
    try {
      return endStateOf(await this.rpc(() => this.options.client.workflow.getHandle(workflowId, runId).describe()));
    } catch (error) {
      throw toDomainError(error);
    }
  }

  /** Extends the lease to now + leaseMs (default: the permit's lease length). */
  async renew(runId: string, leaseMs: number | undefined): Promise<HeldPermit> {
    const workflowId = await this.workflowIdOrThrow(runId, 'renew');
    // The renew update needs a worker to answer; a run whose lease has run out may have none, so
    // that case is settled by a describe (which needs no worker) instead of waiting for a timeout.
    const before = this.cachedWithinLease(runId) ?? (await this.describeHeld(workflowId, runId, 'renew'));
    let renewed: { leaseMs: number; expiresAt: string };
    try {
      renewed = await this.rpc(() =>
        this.options.client.workflow.getHandle(workflowId, runId).executeUpdate(renewUpdate, { args: [{ leaseMs }] }),
      );
    } catch (error) {
      throw await this.explainFailure(error, 'renew', workflowId, runId);
    }
    const permit: Permit = { ...before, leaseMs: renewed.leaseMs, expiresAt: renewed.expiresAt };
    this.locator.remember(permit);
    this.hints.peek(permit.resource)?.markBusy(permit.slot, Date.now(), Date.parse(permit.expiresAt));
    this.countOperation('renew', 'ok');
    this.options.log.info({ runId, workflowId, expiresAt: permit.expiresAt }, 'permit renewed');
    return { ...permit, state: 'held' };
  }

  /** The permit as Temporal has it now; ended permits throw permit_ended. This is the fencing-token check. */
  async status(runId: string): Promise<HeldPermit> {
    const workflowId = await this.workflowIdOrThrow(runId, 'status');
    const permit = await this.describeHeld(workflowId, runId, 'status');
    this.countOperation('status', 'ok');
    return { ...permit, state: 'held' };
  }

  /** The permits held on a resource. */
  async viewResource(resource: string, requestedCapacity: number | undefined): Promise<ResourceView> {
    const capacity = this.options.resourceCapacities[resource] ?? requestedCapacity;
    if (capacity !== undefined && capacity <= DIRECT_VIEW_MAX_CAPACITY) {
      const slots = await mapWithConcurrency(Array.from({ length: capacity }, (_, slot) => slot), 16, (slot) =>
        this.describeSlot(resource, slot),
      );
      return { resource, capacity, held: slots.filter((permit): permit is Permit => !!permit), consistency: 'strong' };
    }
    const held = await this.listHeldFromVisibility(resource);
    const capacityOfHolders = held.reduce((max, permit) => Math.max(max, permit.capacity), 0);
    return { resource, capacity: capacity ?? (capacityOfHolders || 1), held, consistency: 'eventual' };
  }

  /** True when Temporal answers a cheap call within a second. */
  async temporalReachable(): Promise<boolean> {
    try {
      const { client } = this.options;
      await client.connection.withDeadline(Date.now() + 1_000, () => client.workflowService.getSystemInfo({}));
      return true;
    } catch {
      return false;
    }
  }

  private async describeSlot(resource: string, slot: number): Promise<Permit | undefined> {
    try {
      const description = await this.rpc(() =>
        this.options.client.workflow.getHandle(permitWorkflowId(resource, slot)).describe(),
      );
      return this.heldPermitOf(description);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw toDomainError(error);
    }
  }

  private async listHeldFromVisibility(resource: string): Promise<Permit[]> {
    const query =
      `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' ` +
      `AND WorkflowId STARTS_WITH '${permitWorkflowId(resource, 0).slice(0, -1)}'`;
    const held: Permit[] = [];
    try {
      await this.rpc(async () => {
        for await (const execution of this.options.client.workflow.list({ query })) {
          if (!isPermitMemo(execution.memo) || execution.memo.resource !== resource) continue;
          const permit = permitFromRun(execution, execution.memo);
          if (Date.parse(permit.expiresAt) > Date.now()) held.push(permit);
        }
      });
    } catch (error) {
      throw toDomainError(error);
    }
    return held.sort((a, b) => a.slot - b.slot);
  }

  /** A running permit whose lease has not run out, or undefined. */
  private heldPermitOf(description: WorkflowExecutionDescription): Permit | undefined {
    if (description.status.name !== 'RUNNING' || !isPermitMemo(description.memo)) return undefined;
    const permit = permitFromRun(description, description.memo);
    return Date.parse(permit.expiresAt) > Date.now() ? permit : undefined;
  }

  private async describeHeld(workflowId: string, runId: string, operation: 'renew' | 'status'): Promise<Permit> {
    let description: WorkflowExecutionDescription;
    try {
      description = await this.rpc(() => this.options.client.workflow.getHandle(workflowId, runId).describe());
    } catch (error) {
      throw await this.explainFailure(error, operation, workflowId, runId);
    }
    const permit = this.heldPermitOf(description);
    if (permit) {
      this.locator.remember(permit);
      return permit;
    }
    // A run still open past its lease is waiting for a worker to close it; its holder no longer holds it.
    this.countOperation(operation, 'ended');
    throw permitEnded(runId, endStateOf(description));
  }

  private async workflowIdOrThrow(runId: string, operation: 'release' | 'renew' | 'status'): Promise<string> {
    let workflowId: string | undefined;
    try {
      workflowId = await this.locator.workflowIdOf(runId);
    } catch (error) {
      throw toDomainError(error);
    }
    if (workflowId) return workflowId;
    this.countOperation(operation, 'not_found');
    throw permitNotFound(runId);
  }

  /** Turns a failed release/renew/status call into the answer the caller gets. */
  private async explainFailure(
    error: unknown,
    operation: 'release' | 'renew' | 'status',
    workflowId: string,
    runId: string,
  ): Promise<Error> {
    if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
      if (error.cause.type === LEASE_EXPIRED) {
        this.countOperation(operation, 'ended');
        return permitEnded(runId, 'expired');
      }
      if (error.cause.type === MAX_HOLD_EXCEEDED) return maxHoldExceeded(error.cause.message);
    }
    if (!(error instanceof WorkflowNotFoundError)) {
      this.countOperation(operation, 'error');
      return toDomainError(error);
    }
    // The run is closed (or unknown): describe it once to tell released from expired from never existed.
    try {
      const description = await this.rpc(() => this.options.client.workflow.getHandle(workflowId, runId).describe());
      this.countOperation(operation, 'ended');
      return permitEnded(runId, endStateOf(description));
    } catch (describeError) {
      if (describeError instanceof WorkflowNotFoundError) {
        this.countOperation(operation, 'not_found');
        return permitNotFound(runId);
      }
      return toDomainError(describeError);
    }
  }

  private countOperation(operation: 'release' | 'renew' | 'status', outcome: 'ok' | 'ended' | 'not_found' | 'error') {
    this.options.metrics.permitOperations.inc({ operation, outcome });
  }

  /** Every Temporal call gets a deadline, so an unreachable server means a prompt 503, never a hang. */
  private rpc<T>(fn: () => Promise<T>): Promise<T> {
    return this.options.client.connection.withDeadline(Date.now() + this.options.rpcTimeoutMs, fn);
  }
}
