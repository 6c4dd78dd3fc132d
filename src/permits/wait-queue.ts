import type { Logger } from 'pino';
import type { Permit } from './permit.js';
import type { SlotRequest } from './slot-claimer.js';

// The waiters of one resource on this replica. One pump serves them first come, first served, so
// the Temporal calls spent on waiting depend on how often slots free, not on how many wait.

/** What a waiter asks for: the same as one slot claim. */
export type WaitRequest = SlotRequest;

/**
 * Why the pump makes a pass: a slot was seen freed, the periodic probe for frees it cannot see, or a
 * held slot's known lease end passed by the grace (its run may need ending: no worker closed it).
 */
export type PassReason = 'freed' | 'probe' | 'lease_end';

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
/** After a watch fails (Temporal unreachable), new watches wait this long. */
const WATCH_RETRY_MS = 1_000;

interface Waiter {
  request: WaitRequest;
  resolve(permit: Permit): void;
  reject(error: unknown): void;
}

/** FIFO waiters of one resource plus the single pump that serves them. */
export class WaitQueue {
  private readonly waiters: Waiter[] = [];
  private pumping = false;
  private wakePending = false;
  private wakeUp: (() => void) | undefined;
  private readonly watches = new Map<number, AbortController>();
  private watchesPausedUntil = 0;

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
   * Waits behind everyone already queued. Settles with a permit, or with `onGiveUp()`'s error when the
   * deadline passes or the signal fires first; at that moment the waiter is out of the queue for good.
   */
  wait(request: WaitRequest, deadline: number, signal: AbortSignal, onGiveUp: () => Error): Promise<Permit> {
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
        reject(onGiveUp());
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
  wake(): void {
    this.wakePending = true;
    this.wakeUp?.();
  }

  /** Settles every waiter with the error (shutdown, or Temporal failing for all of them alike). */
  rejectAll(error: unknown): void {
    for (const waiter of [...this.waiters]) waiter.reject(error);
    this.wakeUp?.();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      // The first waiter has just tried every slot itself, so the pump starts by waiting for a change.
      for (let head = this.waiters[0]; head; head = this.waiters[0]) {
        let reason: PassReason = 'freed';
        if (!this.wakePending && !this.host.hasFreedSlots(head.request.capacity)) {
          reason = await this.sleep(head.request.capacity);
        }
        this.wakePending = false;
        await this.serveWhileSlotsFree(reason);
      }
    } catch (error) {
      this.options.log.error({ err: error, resource: this.resource }, 'wait queue failed; waiters get the error');
      this.rejectAll(error);
    } finally {
      this.pumping = false;
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
        // Temporal failing fails the same way for every waiter; they hear it now, not at their deadline.
        this.rejectAll(error);
        return;
      }
      if (!permit) return;
      if (this.waiters[0] === head) head.resolve(permit);
      else this.host.discard(permit); // the waiter left (deadline or hang-up) while its slot was being claimed
    }
  }

  /** Parks the pump until a slot is seen freed or the next probe is due. */
  private sleep(capacity: number): Promise<PassReason> {
    const everyBusySlotWatched = this.openWatches(capacity);
    const meanMs = this.options.probeMs * (everyBusySlotWatched ? WATCHED_PROBE_FACTOR : 1);
    // Jitter keeps the probes of several replicas from lining up.
    const probeDelayMs = meanMs * (0.5 + Math.random() / 2);
    const checkAt = this.host.nextLeaseEndCheckAt(capacity);
    const checkDelayMs = checkAt === undefined ? Infinity : Math.max(0, checkAt - Date.now());
    const [delayMs, timerReason]: [number, PassReason] =
      checkDelayMs < probeDelayMs ? [checkDelayMs, 'lease_end'] : [probeDelayMs, 'probe'];
    return new Promise<PassReason>((resolve) => {
      const timer = setTimeout(() => finish(timerReason), delayMs);
      const finish = (reason: PassReason) => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve(reason);
      };
      this.wakeUp = () => finish('freed');
      if (this.wakePending || this.waiters.length === 0) finish('freed');
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
      void watch.then(
        () => {
          this.watches.delete(slot);
          this.host.slotFreed(slot);
          this.wake();
        },
        (error: unknown) => {
          this.watches.delete(slot);
          if (controller.signal.aborted) return;
          this.watchesPausedUntil = Date.now() + WATCH_RETRY_MS;
          this.options.log.warn({ err: error, resource: this.resource, slot }, 'slot watch failed; probing instead');
        },
      );
    }
    return wanted.length > 0 && wanted.length === capacity && wanted.every((slot) => this.watches.has(slot));
  }

  private stopWatches(): void {
    for (const controller of this.watches.values()) controller.abort();
    this.watches.clear();
  }
}
