// Hand-off: how long a waiting client goes without the lock after it frees. After a release, from
// the moment the holder sends it; after a lease expiry, from the expiry the system itself reported.
import { setTimeout as delay } from 'node:timers/promises';
import type { HeldLock, LockClient, LockSystem } from '../lock-client.js';
import { progress } from '../progress.js';
import { describeError, settle, wallNow } from '../settle.js';

export interface HandoffPlan {
  reps: number;
  /** Reps run first and not recorded. */
  warmup: number;
  /** How long the waiter waits before the lock frees, so it is really waiting (polling, or parked). */
  headStartMs: number;
  /**
   * A random extra head start of up to this much. Without it a waiter polling on a timer started at
   * the same moment as the head start would be in the same phase every rep, and the hand-off would
   * always land just before (or after) one of its polls: a fixed, misleading figure.
   */
  headStartJitterMs: number;
  waitMs: number;
}

export interface ExpiryPlan {
  reps: number;
  leaseMs: number;
  headStartMs: number;
  headStartJitterMs: number;
  waitMs: number;
  /** Reps run concurrently on their own resources, started this far apart so expiries do not coincide. */
  staggerMs: number;
}

export interface HandoffResult {
  latenciesMs: number[];
  errors: number;
  firstErrors: string[];
}

const HOLD_LEASE_MS = 30_000;

const headStart = (plan: { headStartMs: number; headStartJitterMs: number }) => plan.headStartMs + Math.random() * plan.headStartJitterMs;

class Errors {
  count = 0;
  readonly first: string[] = [];
  add(error: unknown): void {
    this.count += 1;
    if (this.first.length < 5) this.first.push(describeError(error));
  }
}

async function releaseQuietly(held: HeldLock, errors: Errors): Promise<void> {
  try {
    await held.release();
  } catch (error) {
    errors.add(error);
  }
}

/** Holder releases while a waiter waits; latency = waiter's grant arrival − the moment the release was sent. */
export async function runReleaseHandoff(phase: string, system: LockSystem, resourcePrefix: string, plan: HandoffPlan): Promise<HandoffResult> {
  const holder = await system.connect();
  const waiter = await system.connect();
  const errors = new Errors();
  const latenciesMs: number[] = [];
  const shown = progress(phase, plan.reps, 'hand-offs');
  for (let rep = -plan.warmup; rep < plan.reps; rep++) {
    const resource = `${resourcePrefix}-${rep + plan.warmup}`;
    try {
      const latency = await oneReleaseHandoff(holder, waiter, resource, plan, errors);
      if (rep >= 0) {
        latenciesMs.push(latency);
        shown.tick();
      }
    } catch (error) {
      errors.add(error);
    }
  }
  await holder.close();
  await waiter.close();
  shown.done(errors.count ? `${errors.count} errors` : undefined);
  return { latenciesMs, errors: errors.count, firstErrors: errors.first };
}

async function oneReleaseHandoff(holder: LockClient, waiter: LockClient, resource: string, plan: HandoffPlan, errors: Errors): Promise<number> {
  const held = await holder.acquire({ resource, capacity: 1, leaseMs: HOLD_LEASE_MS, waitMs: 0 });
  const waiting = settle(waiter.acquire({ resource, capacity: 1, leaseMs: HOLD_LEASE_MS, waitMs: plan.waitMs }));
  await delay(headStart(plan));
  const releasedAt = performance.now();
  const released = settle(held.release());
  const granted = await waiting;
  const release = await released;
  if (!release.ok) throw release.error;
  if (!granted.ok) throw granted.error;
  await releaseQuietly(granted.value, errors);
  if (granted.at < releasedAt) throw new Error(`the waiter on ${resource} was granted the lock while it was still held`);
  return granted.at - releasedAt;
}

/** Holder never releases; latency = waiter's grant arrival (wall clock) − the expiry the system reported. */
export async function runExpiryHandoff(phase: string, system: LockSystem, resourcePrefix: string, plan: ExpiryPlan): Promise<HandoffResult> {
  const errors = new Errors();
  const latenciesMs: number[] = [];
  const shown = progress(phase, plan.reps, 'hand-offs');
  const oneRep = async (rep: number) => {
    await delay(rep * plan.staggerMs);
    const resource = `${resourcePrefix}-${rep}`;
    // Clients of their own: a waiting request occupies its client's only connection.
    const holder = await system.connect();
    const waiter = await system.connect();
    try {
      const held = await holder.acquire({ resource, capacity: 1, leaseMs: plan.leaseMs, waitMs: 0 });
      await delay(headStart(plan));
      const granted = await waiter.acquire({ resource, capacity: 1, leaseMs: HOLD_LEASE_MS, waitMs: plan.waitMs });
      const arrivedAtMs = wallNow();
      await releaseQuietly(granted, errors);
      if (arrivedAtMs < held.expiresAtMs) {
        throw new Error(`the waiter on ${resource} was granted the lock ${held.expiresAtMs - arrivedAtMs} ms before the holder's lease ended`);
      }
      latenciesMs.push(arrivedAtMs - held.expiresAtMs);
      shown.tick();
    } catch (error) {
      errors.add(error);
    } finally {
      await holder.close();
      await waiter.close();
    }
  };
  await Promise.all(Array.from({ length: plan.reps }, (_, rep) => oneRep(rep)));
  shown.done(errors.count ? `${errors.count} errors` : undefined);
  return { latenciesMs, errors: errors.count, firstErrors: errors.first };
}
