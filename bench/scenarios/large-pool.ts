// Waiters on large pools, across replicas: a pool of 1,000 or 10,000 slots is filled through replica
// A, a caller waits on replica B, and a random held slot is released through A. Measured from the
// moment the release is sent until B's caller has the slot: how long a replica that did not see a
// release takes to find it. Also what holding the pool costs: the time to fill it, and the memory and
// CPU of the Temporal server and of both replicas.
import type { Client } from '@temporalio/client';
import { setTimeout as delay } from 'node:timers/promises';
import type { Replica } from '../environment.js';
import { KeepAliveHttp } from '../http-client.js';
import { cpuMsBetween, processUsage, type ProcessUsage } from '../process-usage.js';
import { progress } from '../progress.js';
import { growth, scrapeMetrics, startAttemptsBetween, total } from '../service-metrics.js';
import { describeError, mapInLanes, settle } from '../settle.js';
import { HttpLockClient, type HttpHeldLock } from '../systems/http-service.js';
import { untilWorkerCaughtUp } from './occupancy.js';

export interface LargePoolPlan {
  capacities: number[];
  /** Releases on A, each with a caller waiting on B, per capacity. */
  trials: number;
  fillLanes: number;
  fillLeaseMs: number;
  fillWaitMs: number;
  /** The waiting caller's waitMs; a wait that runs out counts as not found. */
  waitMs: number;
  /**
   * Once B's caller is queued, a random pause of up to this long before the release, so the release
   * lands anywhere in B's interval between looks rather than always just after it started waiting.
   */
  headStartMaxMs: number;
  /** How long the full pool is left alone to see what holding it costs in CPU. */
  idleWindowMs: number;
}

/** The processes the scenario reads in /proc. */
export interface LargePoolProcesses {
  temporal: number | undefined;
  replicaA: number | undefined;
  replicaB: number | undefined;
}

type PerProcess<T> = { temporal?: T; replicaA?: T; replicaB?: T };

export interface LargePoolLevel {
  capacity: number;
  fillMs: number;
  fillErrors: number;
  /** After the fill, until A's worker had run the newest permits' first workflow task. */
  settleMs: number;
  /** Release sent on A → grant received on B, per trial that got the slot. */
  latenciesMs: number[];
  /** Trials whose caller on B waited its whole waitMs without the slot. */
  notFound: number;
  errors: number;
  firstErrors: string[];
  /** How long B took to queue the caller (its first search of the pool), per trial. */
  queuedAfterMs: number[];
  /** Resident memory with the pool held, MiB. */
  rssMiB: PerProcess<number>;
  /** CPU time per permit while filling, ms. */
  fillCpuMsPerPermit: PerProcess<number>;
  /** CPU used while the full pool sat held with nothing else happening, in cores. */
  idleCores: PerProcess<number>;
  /** B's looks in visibility, passes by reason, and workflow starts over the trials. */
  replicaB: { looks?: number; passes: Record<string, number | undefined>; startAttempts?: number };
  /** Releasing the whole pool at the end, through A (32 in parallel). */
  releaseMs: number;
  releaseErrors: number;
}

export interface LargePoolResult {
  levels: LargePoolLevel[];
}

const PASS_REASONS = ['freed', 'closed', 'probe', 'lease_end'] as const;

async function usageOf(processes: LargePoolProcesses): Promise<PerProcess<ProcessUsage>> {
  const [temporal, replicaA, replicaB] = await Promise.all([
    processUsage(processes.temporal),
    processUsage(processes.replicaA),
    processUsage(processes.replicaB),
  ]);
  return { temporal, replicaA, replicaB };
}

function perProcess<T>(pick: (name: keyof LargePoolProcesses) => T | undefined): PerProcess<T> {
  const result: PerProcess<T> = {};
  for (const name of ['temporal', 'replicaA', 'replicaB'] as const) {
    const value = pick(name);
    if (value !== undefined) result[name] = value;
  }
  return result;
}

/** Fills each pool through A and measures, with callers waiting on B, how fast B finds a slot released on A. */
export async function runLargePool(
  phase: string,
  replicaA: Replica,
  replicaB: Replica,
  temporal: Client,
  processes: LargePoolProcesses,
  plan: LargePoolPlan,
): Promise<LargePoolResult> {
  const levels: LargePoolLevel[] = [];
  for (const capacity of plan.capacities) {
    levels.push(await measurePool(`${phase} ${capacity.toLocaleString('en-US')}`, `bench-large-pool-${capacity}`, capacity, replicaA, replicaB, temporal, processes, plan));
  }
  return { levels };
}

async function measurePool(
  phase: string,
  resource: string,
  capacity: number,
  replicaA: Replica,
  replicaB: Replica,
  temporal: Client,
  processes: LargePoolProcesses,
  plan: LargePoolPlan,
): Promise<LargePoolLevel> {
  const lanes = Array.from({ length: plan.fillLanes }, () => new HttpLockClient(new KeepAliveHttp(replicaA.url, 1)));
  const held = new Map<number, HttpHeldLock>();
  const grantedOnB: HttpHeldLock[] = [];
  const waiter = new HttpLockClient(new KeepAliveHttp(replicaB.url, 1));
  let fillErrors = 0;
  let releaseErrors = 0;
  let measured: Omit<LargePoolLevel, 'releaseErrors' | 'releaseMs'>;
  let releaseMs: number;
  try {
    const filling = progress(`${phase} fill through A`, capacity, 'permits');
    const beforeFill = await usageOf(processes);
    const fillStarted = performance.now();
    await mapInLanes(Array.from({ length: capacity }), plan.fillLanes, async (_, lane) => {
      try {
        const permit = await lanes[lane]!.acquire({ resource, capacity, leaseMs: plan.fillLeaseMs, waitMs: plan.fillWaitMs });
        held.set(permit.slot, permit);
      } catch {
        fillErrors += 1;
      }
      filling.tick();
    });
    const fillMs = performance.now() - fillStarted;
    const afterFill = await usageOf(processes);
    filling.done(`${held.size} held in ${(fillMs / 1000).toFixed(1)} s`);
    const newest = [...held.values()].slice(-8);
    // The worker runs a first workflow task per permit (it arms the lease timer): 10,000 of them take
    // minutes on a busy 2-core machine.
    const settleMs = await untilWorkerCaughtUp(`${phase} settle`, temporal, newest, Math.max(60_000, capacity * 60));

    const idleFrom = await usageOf(processes);
    const idleStarted = performance.now();
    await delay(plan.idleWindowMs);
    const idleTo = await usageOf(processes);
    const idleMs = performance.now() - idleStarted;

    const trials = await runTrials(phase, resource, capacity, replicaA, replicaB, waiter, lanes[0]!, held, grantedOnB, plan);
    measured = {
      capacity,
      fillMs,
      fillErrors,
      settleMs,
      ...trials,
      rssMiB: perProcess((name) => idleTo[name]?.rssMiB),
      fillCpuMsPerPermit: perProcess((name) => {
        const cpuMs = cpuMsBetween(beforeFill[name], afterFill[name]);
        return cpuMs === undefined || held.size === 0 ? undefined : cpuMs / held.size;
      }),
      idleCores: perProcess((name) => {
        const cpuMs = cpuMsBetween(idleFrom[name], idleTo[name]);
        return cpuMs === undefined ? undefined : cpuMs / idleMs;
      }),
    };
  } finally {
    // Released so the next pool (or phase) does not run beside this one's held runs.
    const releasing = progress(`${phase} release`, held.size + grantedOnB.length, 'permits');
    const releaseStarted = performance.now();
    await mapInLanes([...held.values()], plan.fillLanes, async (permit, lane) => {
      try {
        await lanes[lane]!.release(permit.runId);
      } catch {
        releaseErrors += 1;
      }
      releasing.tick();
    });
    for (const permit of grantedOnB) {
      try {
        await waiter.release(permit.runId);
      } catch {
        releaseErrors += 1;
      }
      releasing.tick();
    }
    releaseMs = performance.now() - releaseStarted;
    releasing.done(releaseErrors ? `${releaseErrors} errors` : undefined);
    for (const client of [...lanes, waiter]) await client.close();
  }
  return { ...measured, releaseMs, releaseErrors };
}

type TrialResults = Pick<LargePoolLevel, 'latenciesMs' | 'notFound' | 'errors' | 'firstErrors' | 'queuedAfterMs' | 'replicaB'>;

async function runTrials(
  phase: string,
  resource: string,
  capacity: number,
  replicaA: Replica,
  replicaB: Replica,
  waiter: HttpLockClient,
  releaser: HttpLockClient,
  held: Map<number, HttpHeldLock>,
  grantedOnB: HttpHeldLock[],
  plan: LargePoolPlan,
): Promise<TrialResults> {
  const shown = progress(`${phase} waiter on B, release on A`, plan.trials, 'trials');
  const latenciesMs: number[] = [];
  const queuedAfterMs: number[] = [];
  const firstErrors: string[] = [];
  let notFound = 0;
  let errors = 0;
  const before = await scrapeMetrics(replicaB.http);
  for (let trial = 0; trial < plan.trials && held.size > 0; trial++) {
    try {
      const askedAt = performance.now();
      const waiting = settle(waiter.acquire({ resource, capacity, leaseMs: plan.fillLeaseMs, waitMs: plan.waitMs }));
      await untilWaitersOn(replicaB, 1, waiting);
      queuedAfterMs.push(performance.now() - askedAt);
      await delay(Math.random() * plan.headStartMaxMs);
      const slots = [...held.keys()];
      const slot = slots[Math.floor(Math.random() * slots.length)]!;
      const permit = held.get(slot)!;
      held.delete(slot);
      const releasedAt = performance.now();
      await releaser.release(permit.runId);
      const granted = await waiting;
      if (granted.ok) {
        grantedOnB.push(granted.value);
        latenciesMs.push(granted.at - releasedAt);
      } else if (describeError(granted.error).includes('resource_busy')) {
        notFound += 1;
      } else {
        throw granted.error;
      }
      // The next trial starts once B has nobody waiting, so each caller is the only one.
      await untilWaitersOn(replicaB, 0);
    } catch (error) {
      errors += 1;
      if (firstErrors.length < 5) firstErrors.push(describeError(error));
    }
    shown.tick();
  }
  const after = await scrapeMetrics(replicaB.http);
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  shown.done(sorted.length ? `median ${Math.round(sorted[Math.floor(sorted.length / 2)]!)} ms, ${notFound} not found` : `${notFound} not found`);
  return {
    latenciesMs,
    notFound,
    errors,
    firstErrors,
    queuedAfterMs,
    replicaB: {
      looks: growth(before, after, 'lock_wait_closed_run_looks_total'),
      passes: Object.fromEntries(PASS_REASONS.map((reason) => [reason, growth(before, after, 'lock_wait_passes_total', { reason })])),
      startAttempts: startAttemptsBetween(before, after),
    },
  };
}

const QUEUE_TIMEOUT_MS = 60_000;

/** Waits until `count` acquires wait on the replica (its lock_waiters gauge); fails if the caller's wait settles first. */
async function untilWaitersOn(replica: Replica, count: number, waiting?: Promise<unknown>): Promise<void> {
  let settled = false;
  void waiting?.then(() => (settled = true));
  const deadline = performance.now() + QUEUE_TIMEOUT_MS;
  for (;;) {
    const samples = await scrapeMetrics(replica.http);
    if (samples && total(samples, 'lock_waiters') === count) return;
    if (settled) throw new Error(`the caller on B was answered before it queued`);
    if (performance.now() > deadline) throw new Error(`B did not have ${count} waiter(s) within ${QUEUE_TIMEOUT_MS} ms`);
    await delay(10);
  }
}
