// Many clients, few slots: each client loops acquire (waiting) → hold briefly → release for a fixed
// time. Measures grants per second, how long acquires waited, and how many clients held at once.
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { LockClient, LockSystem } from '../lock-client.js';
import { progress } from '../progress.js';
import { describeError } from '../settle.js';
import { PeakGauge, perSecond } from '../stats.js';

export interface ContentionPlan {
  clients: number;
  capacity: number;
  holdMs: number;
  /** Run before the window, not counted (except for overlap, which is checked all the time). */
  warmupMs: number;
  durationMs: number;
  waitMs: number;
  leaseMs: number;
}

export interface ContentionResult {
  windowMs: number;
  grants: number;
  grantsPerSecond: number;
  /** From sending each acquire to its grant, for grants inside the window. */
  waitsMs: number[];
  /**
   * The most clients holding at once, counted from each grant's arrival to its release being sent:
   * those intervals lie inside the real holds, so more than capacity here is a certain overlap.
   */
  peakHolders: number;
  /** Grants in the window per client: how fairly the slots went round (polling waiters are not served in order). */
  grantsPerClient: number[];
  /** Acquires still waiting when the window closed; they were cancelled, so their waits are not in waitsMs. */
  cancelledWaits: number;
  errors: number;
  firstErrors: string[];
}

/** Runs the contention loop of `plan.clients` clients, each on its own connection, against one resource. */
export async function runContention(phase: string, system: LockSystem, resource: string, plan: ContentionPlan): Promise<ContentionResult> {
  const clients: LockClient[] = [];
  for (let index = 0; index < plan.clients; index++) clients.push(await system.connect());

  const gauge = new PeakGauge();
  const stop = new AbortController();
  // Every client's pending call listens on this one signal (the HTTP request, a polling delay).
  setMaxListeners(plan.clients * 4, stop.signal);
  const started = performance.now();
  const windowStart = started + plan.warmupMs;
  const windowEnd = windowStart + plan.durationMs;
  const waitsMs: number[] = [];
  const firstErrors: string[] = [];
  let grants = 0;
  let cancelledWaits = 0;
  let errors = 0;
  const shown = progress(phase, undefined, 'grants in the window');
  const fail = (error: unknown) => {
    errors += 1;
    if (firstErrors.length < 5) firstErrors.push(describeError(error));
  };

  const grantsPerClient = clients.map(() => 0);
  const loop = async (client: LockClient, index: number) => {
    while (!stop.signal.aborted) {
      const sent = performance.now();
      let held;
      try {
        held = await client.acquire({ resource, capacity: plan.capacity, leaseMs: plan.leaseMs, waitMs: plan.waitMs, signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) {
          cancelledWaits += 1;
          return;
        }
        fail(error);
        await delay(20);
        continue;
      }
      const granted = performance.now();
      gauge.enter();
      if (granted >= windowStart && granted < windowEnd) {
        grants += 1;
        grantsPerClient[index]! += 1;
        waitsMs.push(granted - sent);
        shown.tick();
      }
      await delay(plan.holdMs);
      gauge.leave();
      try {
        await held.release();
      } catch (error) {
        fail(error);
      }
    }
  };

  const loops = Promise.all(clients.map((client, index) => loop(client, index)));
  await delay(windowEnd - performance.now());
  stop.abort();
  await loops;
  await Promise.all(clients.map((client) => client.close()));
  shown.done(`peak holders ${gauge.peak}, errors ${errors}`);
  return {
    windowMs: plan.durationMs,
    grants,
    grantsPerSecond: perSecond(grants, plan.durationMs),
    waitsMs,
    peakHolders: gauge.peak,
    grantsPerClient,
    cancelledWaits,
    errors,
    firstErrors,
  };
}
