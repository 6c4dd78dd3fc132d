import type { Logger } from 'pino';
import type { DomainError } from './errors.js';
import type { Permit } from './permit.js';
import { retryDelayMs, type Backoff } from './retry-delay.js';
import type { SlotRequest } from './slot-claimer.js';
import { isTransientTemporalError } from './temporal-errors.js';

// The waiters of one resource on this replica. One pump serves them first come, first served, so
// the Temporal calls spent on waiting depend on how often slots free, not on how many wait.

/** What a waiter asks for: the same as one slot claim. */
export type WaitRequest = SlotRequest;

/**
 * Why the pump makes a pass: a slot was seen freed (released here, a watch fired), visibility listed
 * slots whose runs closed (a hint that may be stale: only those slots are worth a try), the periodic
 * probe for frees it cannot see, or a held slot's known lease end passed by the grace (its run may
 * need ending: no worker closed it).
 */
export type PassReason = 'freed' | 'closed' | 'probe' | 'lease_end';

/** What woke the pump: a slot seen freed, or closes listed by visibility. */
export type WakeReason = 'freed' | 'closed';

/** What the queue needs from the permit service. */
export interface WaitQueueHost {
  /** One pass over the slots for this request; undefined when every slot tried was held. */
  attempt(request: WaitRequest, reason: PassReason): Promise<Permit | undefined>;
  /** True when some slot of the resource was seen freed since the last pass. */
  hasFreedSlots(capacity: number): boolean;
  /** When the next held slot passes its known lease end plus the grace; undefined when none is known. */
  nextLeaseEndCheckAt(capacity: number): number | undefined;
  /** A permit granted for a waiter that has gone: give the slot back. */
  discard(permit: Permit): void;
  /** Busy slots worth watching, the most promising first. */
  slotsToWatch(capacity: number): number[];
  /**
   * Starts watching a slot; the promise settles when its run closes (or fails).
   * Undefined when no watch can be opened now (the replica-wide limit is reached).
   */
  watchSlot(slot: number, signal: AbortSignal): Promise<void> | undefined;
  /** A watched slot's run closed: the next pass should try it first. */
  slotFreed(slot: number): void;
  /**
   * Whether a failed pass's error refuses only requests like this one (a capacity that is no longer
   * in force), so those waiters hear it and the others keep waiting.
   */
  refusesOnly(error: unknown, request: WaitRequest): boolean;
}

export interface WaitQueueOptions {
  /** Mean time between probe passes while some busy slot is not watched. */
  probeMs: number;
  /** Watches per resource. */
  maxWatches: number;
  log: Logger;
}

/** When every busy slot is watched, a probe is only a safety net and runs this many times less often. */
const WATCHED_PROBE_FACTOR = 5;
/**
 * After a pass fails with a transient Temporal error, the next one waits this long (doubling per
 * failure in a row): soon enough that a one-off timeout costs the waiters little, slow enough that
 * an outage costs at most one pass per resource every 2 s.
 */
const PASS_RETRY: Backoff = { firstMs: 100, maxMs: 2_000 };
/** After a watch fails, watches are reopened this soon (doubling while they keep failing). */
const WATCH_RETRY: Backoff = { firstMs: 100, maxMs: 2_000 };

/**
 * What a waiter's onGiveUp hears: the error of the queue's last pass when that pass failed (a
 * transient Temporal error), so a wait that ends while Temporal cannot answer does not claim that
 * every slot is held.
 */
export type GiveUpReason = { lastPassError: DomainError | undefined };

interface Waiter {
  request: WaitRequest;
  resolve(permit: Permit): void;
  reject(error: unknown): void;
}

/** FIFO waiters of one resource plus the single pump that serves them. */
export class WaitQueue {
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  /** A wake that came while the pump was busy; a freed slot outranks listed closes. */
  private pendingWake: WakeReason | undefined;
  /** Whether the watches covered every slot known to be held when the pump last parked. */
  private everyBusySlotWatched = false;
  private wakeUp: (() => void) | undefined;
  private readonly watches = new Map<number, AbortController>();
  private watchesPausedUntil = 0;
  /** Watches that failed in a row; reset when a watch sees its run close. */
  private watchFailures = 0;
  private watchRetryTimer: NodeJS.Timeout | undefined;
  /** Passes that failed in a row with a transient error, and the last one's error. */
  private failedPasses = 0;
  private lastPassError: DomainError | undefined;
  /** The capacity the sleeping pump watches for, so a watch retry can reopen watches meanwhile. */
  private sleepingCapacity: number | undefined;

  constructor(
    readonly resource: string,
    private readonly host: WaitQueueHost,
    private readonly options: WaitQueueOptions,
    private readonly onIdle: () => void,
  ) {}

  get size(): number {
    return this.waiters.length;
  }

  /**
   * True while waiters wait here with a held slot no watch covers: a slot freed on another replica
   * may then go unseen, and is worth looking for in visibility.
   */
  get unwatchedSlotsRemain(): boolean {
    return this.waiters.length > 0 && !this.everyBusySlotWatched;
  }

  /** The capacity the first waiter asks for; undefined while nobody waits. */
  get headCapacity(): number | undefined {
    return this.waiters[0]?.request.capacity;
  }

  /**
   * Waits behind everyone already queued, through transient Temporal errors. Settles with a permit, or
   * with `onGiveUp()`'s error when the deadline passes or the signal fires first; at that moment the
   * waiter is out of the queue for good. Errors that are not transient settle every waiter at once.
   */
  wait(
    request: WaitRequest,
    deadline: number,
    signal: AbortSignal,
    onGiveUp: (reason: GiveUpReason) => Error,
  ): Promise<Permit> {
    return new Promise<Permit>((resolve, reject) => {
      const leave = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', giveUp);
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        // The last waiter gone: the pump stops now and closes its watches, instead of at its next probe.
        if (this.waiters.length === 0) this.wakeUp?.();
      };
      const giveUp = () => {
        leave();
        reject(onGiveUp({ lastPassError: this.lastPassError }));
      };
      const waiter: Waiter = {
        request,
        resolve: (permit) => {
          leave();
          resolve(permit);
        },
        reject: (error) => {
          leave();
          reject(error);
        },
      };
      const timer = setTimeout(giveUp, Math.max(0, deadline - Date.now()));
      signal.addEventListener('abort', giveUp, { once: true });
      this.waiters.push(waiter);
      if (signal.aborted) giveUp();
      else if (!this.pumping) void this.pump();
    });
  }

  /** Some slot of the resource may have freed: the pump makes a pass now. */
  wake(reason: WakeReason = 'freed'): void {
    this.pendingWake = this.pendingWake === 'freed' ? 'freed' : reason;
    this.wakeUp?.();
  }

  /** Settles every waiter with the error (an error a retry cannot cure). */
  rejectAll(error: unknown): void {
    for (const waiter of [...this.waiters]) waiter.reject(error);
    this.wakeUp?.();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      // The first waiter has just tried every slot itself, so the pump starts by waiting for a change.
      for (let head = this.waiters[0]; head; head = this.waiters[0]) {
        const { capacity } = head.request;
        let reason: PassReason = 'freed';
        if (this.failedPasses > 0) {
          // Back off even when a freed slot is known: its hint outlives the failed pass, and trying it
          // again at once would spin for as long as Temporal cannot answer.
          this.everyBusySlotWatched = this.openWatches(capacity);
          const woken = await this.sleep(capacity, retryDelayMs(this.failedPasses, PASS_RETRY));
          if (!woken && !this.host.hasFreedSlots(capacity)) reason = 'probe';
        } else if (!this.pendingWake && !this.host.hasFreedSlots(capacity)) {
          this.everyBusySlotWatched = this.openWatches(capacity);
          const meanMs = this.options.probeMs * (this.everyBusySlotWatched ? WATCHED_PROBE_FACTOR : 1);
          // Jitter keeps the probes of several replicas from lining up.
          const probeDelayMs = meanMs * (0.5 + Math.random() / 2);
          const checkAt = this.host.nextLeaseEndCheckAt(capacity);
          const checkDelayMs = checkAt === undefined ? Infinity : Math.max(0, checkAt - Date.now());
          const [delayMs, timerReason]: [number, PassReason] =
            checkDelayMs < probeDelayMs ? [checkDelayMs, 'lease_end'] : [probeDelayMs, 'probe'];
          if (!(await this.sleep(capacity, delayMs))) reason = timerReason;
        }
        // Woken only by listed closes: a pass over those slots alone, not a search of the whole pool.
        if (reason === 'freed' && this.pendingWake === 'closed') reason = 'closed';
        this.pendingWake = undefined;
        await this.serveWhileSlotsFree(reason);
      }
    } catch (error) {
      this.options.log.error({ err: error, resource: this.resource }, 'wait queue failed; waiters get the error');
      this.rejectAll(error);
    } finally {
      this.pumping = false;
      this.everyBusySlotWatched = false;
      this.failedPasses = 0;
      this.lastPassError = undefined;
      this.stopWatches();
      this.onIdle();
    }
  }

  /** Grants to waiters in order until a pass finds no free slot. */
  private async serveWhileSlotsFree(reason: PassReason): Promise<void> {
    for (let head = this.waiters[0]; head; head = this.waiters[0]) {
      let permit: Permit | undefined;
      try {
        permit = await this.host.attempt(head.request, reason);
      } catch (error) {
        const refused = this.waiters.filter((waiter) => this.host.refusesOnly(error, waiter.request));
        if (refused.length > 0 && refused.length < this.waiters.length) {
          // The capacity changed while these waited: they are refused, the others wait on.
          for (const waiter of refused) waiter.reject(error);
          continue;
        }
        if (!isTransientTemporalError(error)) {
          // A retry cannot cure it, and it would fail the same way for every waiter: they hear it now.
          this.rejectAll(error);
          return;
        }
        // One timeout or a short outage: the waiters keep their places and their own deadlines.
        this.failedPasses++;
        this.lastPassError = error;
        this.options.log.warn(
          { err: error, resource: this.resource, failedPasses: this.failedPasses, waiters: this.waiters.length },
          'a slot search for waiters failed; they keep waiting and the pump retries after a pause',
        );
        return;
      }
      this.failedPasses = 0;
      this.lastPassError = undefined;
      if (!permit) return;
      if (this.waiters[0] === head) head.resolve(permit);
      else this.host.discard(permit); // the waiter left (deadline or hang-up) while its slot was being claimed
    }
  }

  /** Parks the pump for delayMs; true when woken earlier (a slot seen freed, or the last waiter gone). */
  private sleep(capacity: number, delayMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), delayMs);
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.sleepingCapacity = undefined;
        resolve(woken);
      };
      this.wakeUp = () => finish(true);
      this.sleepingCapacity = capacity;
      if (this.pendingWake || this.waiters.length === 0) finish(true);
    });
  }

  /** Opens watches on the busy slots not yet watched; true when every busy slot it knows of is watched. */
  private openWatches(capacity: number): boolean {
    if (Date.now() < this.watchesPausedUntil) return false;
    const wanted = this.host.slotsToWatch(capacity);
    for (const slot of wanted) {
      if (this.watches.size >= Math.min(this.options.maxWatches, capacity)) break;
      if (this.watches.has(slot)) continue;
      const controller = new AbortController();
      const watch = this.host.watchSlot(slot, controller.signal);
      if (!watch) break;
      this.watches.set(slot, controller);
      const openedAt = Date.now();
      void watch.then(
        () => {
          this.watches.delete(slot);
          this.watchFailures = 0;
          this.host.slotFreed(slot);
          this.wake();
        },
        (error: unknown) => {
          this.watches.delete(slot);
          if (controller.signal.aborted) return;
          this.watchFailed(slot, error, Date.now() - openedAt);
        },
      );
    }
    return wanted.length > 0 && wanted.length === capacity && wanted.every((slot) => this.watches.has(slot));
  }

  /**
   * A watch broke (a timeout, a reset connection): its slot is unwatched, and the pump may be parked
   * for a long probe interval that counted on it. Watches are reopened after a short pause that grows
   * while they keep failing, rather than at the pump's next probe.
   */
  private watchFailed(slot: number, error: unknown, openForMs: number): void {
    // A watch that had been parked a long while before it broke says nothing about the one before it.
    this.watchFailures = openForMs > WATCH_RETRY.maxMs ? 1 : this.watchFailures + 1;
    const delayMs = retryDelayMs(this.watchFailures, WATCH_RETRY);
    this.options.log.warn(
      { err: error, resource: this.resource, slot, watchFailures: this.watchFailures, retryInMs: Math.round(delayMs) },
      'slot watch failed; reopening it after a pause',
    );
    if (this.watchRetryTimer) return; // a reopen is already due, for every unwatched slot at once
    this.watchesPausedUntil = Date.now() + delayMs;
    this.watchRetryTimer = setTimeout(() => {
      this.watchRetryTimer = undefined;
      // Lifted here rather than left to the clock: a timer may fire a millisecond before Date.now() reaches it.
      this.watchesPausedUntil = 0;
      // A pump that is making a pass reopens them when it next parks.
      if (this.sleepingCapacity !== undefined) this.openWatches(this.sleepingCapacity);
    }, delayMs);
  }

  private stopWatches(): void {
    clearTimeout(this.watchRetryTimer);
    this.watchRetryTimer = undefined;
    this.watchesPausedUntil = 0;
    this.watchFailures = 0;
    for (const controller of this.watches.values()) controller.abort();
    this.watches.clear();
  }
}
