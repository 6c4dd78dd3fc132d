// Throughput across many resources: K clients, each cycling acquire + release on a mutex of its own,
// for K = 1, 4, 16, 64. Nobody waits for anybody, so what limits grants/s is what each grant costs
// the systems involved; the CPU they used during the window, over the grants in it, says how much.
import { setTimeout as delay } from 'node:timers/promises';
import { cpuMeter, type CpuUse, type WatchedPids } from '../cpu.js';
import type { LockClient, LockSystem } from '../lock-client.js';
import { progress } from '../progress.js';
import { describeError } from '../settle.js';
import { perSecond } from '../stats.js';

export interface ThroughputPlan {
  /** The numbers of clients (and of resources) to measure, one level each. */
  ks: number[];
  /** Each level runs this long before its window (connections, capacity records, JIT), not counted. */
  warmupMs: number;
  durationMs: number;
  leaseMs: number;
}

export interface ThroughputLevel {
  k: number;
  windowMs: number;
  /** Grants whose answer arrived inside the window. */
  grants: number;
  grantsPerSecond: number;
  /** acquire + release of each cycle whose grant arrived inside the window. */
  cycleMs: number[];
  /** CPU ms each watched process used during the window. */
  cpuMs: CpuUse;
  errors: number;
  firstErrors: string[];
}

export interface ThroughputResult {
  levels: ThroughputLevel[];
  /** The processes whose CPU was read, by the name the table shows. */
  watched: string[];
}

/** Runs every level of the plan against the system; `pids` are the processes whose CPU each window reports. */
export async function runThroughput(
  phase: string,
  system: LockSystem,
  resourcePrefix: string,
  plan: ThroughputPlan,
  pids: WatchedPids,
): Promise<ThroughputResult> {
  await prime(system, resourcePrefix, Math.max(...plan.ks), plan.leaseMs);
  const levels: ThroughputLevel[] = [];
  for (const k of plan.ks) levels.push(await runLevel(`${phase}, K = ${k}`, system, resourcePrefix, k, plan, pids));
  return { levels, watched: Object.keys(pids) };
}

/** One system of a side-by-side run: its resources and the processes whose CPU its windows report. */
export interface ThroughputSubject {
  label: string;
  system: LockSystem;
  resourcePrefix: string;
  pids: WatchedPids;
}

/**
 * The same for several systems, level by level in turns (K = 1 of each, then K = 4 of each, …), so
 * a busy patch of the machine falls on all of them rather than on one system's whole curve.
 */
export async function runThroughputSideBySide(phase: string, subjects: ThroughputSubject[], plan: ThroughputPlan): Promise<ThroughputResult[]> {
  for (const subject of subjects) await prime(subject.system, subject.resourcePrefix, Math.max(...plan.ks), plan.leaseMs);
  const results = subjects.map((subject) => ({ levels: [] as ThroughputLevel[], watched: Object.keys(subject.pids) }));
  for (const k of plan.ks) {
    for (const [index, subject] of subjects.entries()) {
      results[index]!.levels.push(await runLevel(`${phase}, ${subject.label}, K = ${k}`, subject.system, subject.resourcePrefix, k, plan, subject.pids));
    }
  }
  return results;
}

/** Lanes that take every resource once before the levels. */
const PRIME_LANES = 8;

/**
 * One untimed cycle on every resource: a resource's first acquire may set up more than later ones
 * do (the service establishes the resource's capacity record), which no level's window should carry.
 */
async function prime(system: LockSystem, resourcePrefix: string, count: number, leaseMs: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    const client = await system.connect();
    try {
      for (let index = next++; index < count; index = next++) {
        const held = await client.acquire({ resource: `${resourcePrefix}-${index}`, capacity: 1, leaseMs, waitMs: 0 });
        await held.release();
      }
    } finally {
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: PRIME_LANES }, lane));
}

async function runLevel(phase: string, system: LockSystem, resourcePrefix: string, k: number, plan: ThroughputPlan, pids: WatchedPids): Promise<ThroughputLevel> {
  const clients: LockClient[] = [];
  for (let index = 0; index < k; index++) clients.push(await system.connect());
  const shown = progress(phase, undefined, 'grants in the window');
  const cycleMs: number[] = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let grants = 0;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let stopped = false;

  // The same resource names at every level, so a level's warm-up finds most of them known already.
  const loop = async (client: LockClient, index: number) => {
    const resource = `${resourcePrefix}-${index}`;
    while (!stopped) {
      const started = performance.now();
      try {
        const held = await client.acquire({ resource, capacity: 1, leaseMs: plan.leaseMs, waitMs: 0 });
        const granted = performance.now();
        await held.release();
        if (granted >= windowStart && granted < windowEnd) {
          grants += 1;
          cycleMs.push(performance.now() - started);
          shown.tick();
        }
      } catch (error) {
        errors += 1;
        if (firstErrors.length < 5) firstErrors.push(describeError(error));
        await delay(20);
      }
    }
  };

  const loops = Promise.all(clients.map((client, index) => loop(client, index)));
  await delay(plan.warmupMs);
  const meter = await cpuMeter(pids);
  windowStart = performance.now();
  windowEnd = windowStart + plan.durationMs;
  await delay(plan.durationMs);
  const cpuMs = await meter();
  stopped = true;
  await loops;
  await Promise.all(clients.map((client) => client.close()));
  shown.done(errors ? `${errors} errors` : undefined);
  return {
    k,
    windowMs: plan.durationMs,
    grants,
    grantsPerSecond: perSecond(grants, plan.durationMs),
    cycleMs,
    cpuMs,
    errors,
    firstErrors,
  };
}
