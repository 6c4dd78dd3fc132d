// Sequential acquire + release cycles. Several systems are measured in interleaved blocks, so a slow
// patch of the machine (another process, a server-side compaction) falls on all of them alike and
// the ratio between them stays fair.
import { cpuMeter, type CpuUse, type WatchedPids } from '../cpu.js';
import type { KeepAliveHttp } from '../http-client.js';
import type { LockClient } from '../lock-client.js';
import { progress } from '../progress.js';

export interface CycleSamples {
  /** From the acquire call until it resolved with the lock. */
  acquireMs: number[];
  /** From the release call until it resolved. */
  releaseMs: number[];
  /** acquire + release, back to back. */
  cycleMs: number[];
  /** CPU ms the watched processes used during this subject's measured blocks, summed. */
  cpuMs?: CpuUse;
}

export interface CycleSubject {
  label: string;
  client: LockClient;
  /** One resource for all of this subject's cycles: a mutex taken and freed over and over. */
  resource: string;
}

export interface CyclePlan {
  /** Cycles per subject run first and not recorded (connections, JIT, server caches). */
  warmup: number;
  count: number;
  /** Cycles of one subject before switching to the next. */
  block: number;
}

/**
 * Short, so the timer each released run leaves behind (its start delay's end, or its lease timer) fires,
 * as a no-op, inside this phase, at the rate its cycles leave them, rather than in a later phase.
 */
const LEASE_MS = 2_000;

async function oneCycle({ client, resource }: CycleSubject): Promise<{ acquireMs: number; releaseMs: number }> {
  const started = performance.now();
  const held = await client.acquire({ resource, capacity: 1, leaseMs: LEASE_MS, waitMs: 0 });
  const acquired = performance.now();
  await held.release();
  return { acquireMs: acquired - started, releaseMs: performance.now() - acquired };
}

/** Measures count cycles of each subject, interleaved in blocks; returns samples by label. */
export async function measureCycles(
  phase: string,
  subjects: CycleSubject[],
  plan: CyclePlan,
  afterWarmup?: () => Promise<void>,
  pids?: WatchedPids,
): Promise<Map<string, CycleSamples>> {
  const results = new Map<string, CycleSamples>(
    subjects.map((subject) => [subject.label, { acquireMs: [], releaseMs: [], cycleMs: [] }]),
  );
  const shown = progress(phase, plan.count * subjects.length, 'cycles');
  for (const subject of subjects) {
    for (let index = 0; index < plan.warmup; index++) await oneCycle(subject);
  }
  await afterWarmup?.();
  for (let done = 0; done < plan.count; done += plan.block) {
    for (const subject of subjects) {
      const samples = results.get(subject.label)!;
      const meter = pids && (await cpuMeter(pids));
      for (let index = done; index < Math.min(done + plan.block, plan.count); index++) {
        const { acquireMs, releaseMs } = await oneCycle(subject);
        samples.acquireMs.push(acquireMs);
        samples.releaseMs.push(releaseMs);
        samples.cycleMs.push(acquireMs + releaseMs);
        shown.tick();
      }
      if (meter) samples.cpuMs = addCpu(samples.cpuMs, await meter());
    }
  }
  shown.done();
  return results;
}

/** Round trips of a request that does no work in the service: what HTTP and Fastify cost by themselves. */
export async function measureRoundTrips(phase: string, http: KeepAliveHttp, path: string, plan: CyclePlan): Promise<number[]> {
  const shown = progress(phase, plan.count, 'requests');
  for (let index = 0; index < plan.warmup; index++) await http.request('GET', path);
  const samples: number[] = [];
  for (let index = 0; index < plan.count; index++) {
    const started = performance.now();
    const answer = await http.request('GET', path);
    samples.push(performance.now() - started);
    if (answer.status !== 200) throw new Error(`GET ${path}: HTTP ${answer.status}`);
    shown.tick();
  }
  shown.done();
  return samples;
}

function addCpu(total: CpuUse | undefined, more: CpuUse): CpuUse {
  const sum: CpuUse = { ...total };
  for (const [name, ms] of Object.entries(more)) {
    const before = total ? total[name] : 0;
    sum[name] = ms === undefined || (total && before === undefined) ? undefined : (before ?? 0) + ms;
  }
  return sum;
}
