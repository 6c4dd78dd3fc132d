// What one grant costs the Temporal server, variant by variant: sequential cycles of one kind at a
// time, with the server's CPU time and its own counters (API calls, persistence requests) read
// around them. Comparing the variants says where the server's time goes: the start and terminate
// alone (the honest floor), a worker running the run's first workflow task, the service's own calls
// (the fencing number's history read), a permit held long enough for its first workflow task to run,
// and a renewal.
import { setTimeout as delay } from 'node:timers/promises';
import { cpuMsOf, type CpuUse, type WatchedPids } from '../cpu.js';
import { progress } from '../progress.js';
import { growthByOperation, readServerMetrics } from '../server-metrics.js';

export interface AnatomyPlan {
  /** Measured cycles per variant, split evenly over the rounds. */
  cycles: number;
  /** The variants take turns this many times, so a busy patch of the machine falls on all of them. */
  rounds: number;
  /** Unmeasured cycles before each variant's. */
  warmup: number;
  /** How long the "held" variants hold, long enough for a first workflow task to run. */
  holdMs: number;
  /**
   * The permits' lease: short, so the timers a released run leaves behind (its lease timer, or its
   * start delay's) fire, as no-ops, inside the window that counts the variant's cost.
   */
  leaseMs: number;
}

export interface AnatomyVariant {
  label: string;
  /** One acquire … release cycle of this variant. */
  cycle(): Promise<void>;
  /** Which watched process is the service this variant calls ('service' when absent). */
  service?: string;
}

export interface AnatomyResult {
  label: string;
  /** The watched process that is this variant's service. */
  service: string;
  cycles: number;
  /** From the first measured cycle until the server had published what they did. */
  windowMs: number;
  /** CPU ms of each watched process over the window; the server's with its idle use over the window taken off. */
  cpuMs: CpuUse;
  /** The server's API calls (frontend) per operation, over all the variant's cycles. */
  apiCalls: Record<string, number>;
  /** The server's persistence requests per operation (history and matching), over all the variant's cycles. */
  persistence: Record<string, number>;
}

export interface Anatomy {
  /** The server's CPU use while nothing was asked of it, ms per second. */
  idleServerMsPerSecond: number | undefined;
  variants: AnatomyResult[];
}

/** Runs each variant's cycles in turn and reads what they cost; `pids.server` is the Temporal server. */
export async function runAnatomy(phase: string, variants: AnatomyVariant[], plan: AnatomyPlan, pids: WatchedPids, serverMetricsUrl: string): Promise<Anatomy> {
  const shown = progress(phase, variants.length * plan.cycles, 'cycles');
  // The publication wait of the first reading doubles as the idle measurement.
  const idleFrom = performance.now();
  const idleCpu = await cpuMsOf(pids.server);
  await readServerMetrics(serverMetricsUrl);
  const idleCpuAfter = await cpuMsOf(pids.server);
  const idleServerMsPerSecond =
    idleCpu === undefined || idleCpuAfter === undefined ? undefined : ((idleCpuAfter - idleCpu) * 1000) / (performance.now() - idleFrom);

  const results = new Map<string, AnatomyResult>(
    variants.map((variant) => [
      variant.label,
      { label: variant.label, service: variant.service ?? 'service', cycles: 0, windowMs: 0, cpuMs: {}, apiCalls: {}, persistence: {} },
    ]),
  );
  for (const variant of variants) {
    for (let index = 0; index < plan.warmup; index++) await variant.cycle();
  }
  // The warm-up's own server work is published before the counting starts.
  let before = await readServerMetrics(serverMetricsUrl);
  const names = Object.keys(pids);
  const perRound = Math.max(1, Math.round(plan.cycles / plan.rounds));
  for (let round = 0; round < plan.rounds; round++) {
    for (const variant of variants) {
      const result = results.get(variant.label)!;
      const cpuBefore = await Promise.all(names.map((name) => cpuMsOf(pids[name])));
      const started = performance.now();
      for (let index = 0; index < perRound; index++) {
        await variant.cycle();
        shown.tick();
      }
      // Waits for the publication, so the server's deferred work for these cycles (transfer and
      // visibility tasks) is counted in both its CPU and its counters.
      const after = await readServerMetrics(serverMetricsUrl);
      const cpuAfter = await Promise.all(names.map((name) => cpuMsOf(pids[name])));
      const windowMs = performance.now() - started;
      names.forEach((name, index) => {
        const used = cpuBefore[index] === undefined || cpuAfter[index] === undefined ? undefined : cpuAfter[index]! - cpuBefore[index]!;
        const idle = name === 'server' && idleServerMsPerSecond !== undefined ? (idleServerMsPerSecond * windowMs) / 1000 : 0;
        const known = round === 0 || result.cpuMs[name] !== undefined;
        result.cpuMs[name] = used === undefined || !known ? undefined : (result.cpuMs[name] ?? 0) + Math.max(0, used - idle);
      });
      result.cycles += perRound;
      result.windowMs += windowMs;
      addCounts(result.apiCalls, growthByOperation(before, after, 'service_requests', 'frontend'));
      addCounts(result.persistence, growthByOperation(before, after, 'persistence_requests'));
      before = after;
    }
  }
  shown.done();
  return { idleServerMsPerSecond, variants: [...results.values()] };
}

function addCounts(total: Record<string, number>, more: Record<string, number>): void {
  for (const [operation, count] of Object.entries(more)) total[operation] = (total[operation] ?? 0) + count;
}

/** A cycle that holds the lock for holdMs between acquire and release. */
export async function heldFor<T>(holdMs: number, acquire: () => Promise<T>, release: (held: T) => Promise<void>): Promise<void> {
  const held = await acquire();
  await delay(holdMs);
  await release(held);
}
