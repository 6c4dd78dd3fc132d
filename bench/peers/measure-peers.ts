// The peers run the same loops as the service, with the same plan, one after the other.
import type { LockSystem } from '../lock-client.js';
import type { BenchPlan } from '../plan.js';
import { say } from '../progress.js';
import { cycleStats, type PeerResults } from '../rows.js';
import { runContention } from '../scenarios/contention.js';
import { measureCycles } from '../scenarios/cycle.js';
import { runExpiryHandoff, runReleaseHandoff } from '../scenarios/handoff.js';
import { runThroughput, type ThroughputResult } from '../scenarios/throughput.js';
import { startEtcdPeer } from './etcd.js';
import type { PeerProcess } from './peer-process.js';
import { PeerSkipped } from './peer-process.js';
import { RETRY_INTERVAL_MS, startRedisPeer } from './redis.js';
import { startThrottlePeer } from './throttle.js';

const PEER_WARMUP_MS = 500;
const PEER_QUICK_WINDOW_MS = 1_500;

/** What a peer run measures besides its own scenarios: the K-curve, when the run includes it. */
export interface PeerRunOptions {
  throughput: boolean;
}

/** The K-curve against a peer, with the CPU its server process used (and the benchmark's own, which drives every client). */
function peerThroughput(label: string, system: LockSystem, process: PeerProcess, plan: BenchPlan, options: PeerRunOptions): Promise<ThroughputResult> | undefined {
  if (!options.throughput) return undefined;
  // A peer leaves no timers behind to wait for (see plan.ts), so a short warm-up will do; in quick mode
  // its thousands of grants per second fill a shorter window too.
  const levels = { ...plan.throughput, warmupMs: PEER_WARMUP_MS, ...(plan.mode === 'quick' && { durationMs: PEER_QUICK_WINDOW_MS }) };
  return runThroughput(`${label} throughput`, system, `bench-${label}-k`, levels, { server: process.child.pid, benchmark: globalThis.process.pid });
}

async function skippedOr<T extends PeerResults>(peer: PeerResults['peer'], system: string, waiting: string, measure: () => Promise<T>): Promise<PeerResults> {
  try {
    return await measure();
  } catch (error) {
    if (!(error instanceof PeerSkipped)) throw error;
    say(`peer ${peer} skipped: ${error.message}`);
    return { peer, system, waiting, skipped: error.message };
  }
}

/** Cycle (Mutex), contention (Semaphore), and both hand-offs against a fresh redis-server. */
export function measureRedis(plan: BenchPlan, options: PeerRunOptions): Promise<PeerResults> {
  const waiting = `polls every ${RETRY_INTERVAL_MS} ms`;
  return skippedOr('redis', 'Redis + redis-semaphore', waiting, async () => {
    const redis = await startRedisPeer();
    try {
      const { system } = redis;
      const client = await system.connect();
      const cycles = await measureCycles('redis cycle', [{ label: 'redis', client, resource: 'bench-redis-cycle' }], plan.cycle);
      await client.close();
      return {
        peer: 'redis' as const,
        system: system.name,
        waiting,
        cycle: cycleStats(cycles.get('redis')!),
        contention: await runContention('redis contention', system, 'bench-redis-contention', plan.contention),
        handoffRelease: await runReleaseHandoff('redis hand-off after release', system, 'bench-redis-handoff', plan.handoff),
        handoffExpiry: await runExpiryHandoff('redis hand-off after expiry', system, 'bench-redis-expiry', plan.expiry),
        throughput: await peerThroughput('redis', system, redis.process, plan, options),
      };
    } finally {
      await redis.process.stop();
    }
  });
}

/** Cycle and hand-off after release against a fresh single-member etcd. */
export function measureEtcd(plan: BenchPlan, options: PeerRunOptions): Promise<PeerResults> {
  const waiting = 'woken by a watch on the lock key';
  return skippedOr('etcd', 'etcd + etcd3 lock', waiting, async () => {
    const etcd = await startEtcdPeer();
    try {
      const { system } = etcd;
      const client = await system.connect();
      const cycles = await measureCycles('etcd cycle', [{ label: 'etcd', client, resource: 'bench-etcd-cycle' }], plan.cycle);
      await client.close();
      return {
        peer: 'etcd' as const,
        system: system.name,
        waiting,
        cycle: cycleStats(cycles.get('etcd')!),
        contentionNotApplicable: 'etcd3 has no N-permit semaphore',
        handoffRelease: await runReleaseHandoff('etcd hand-off after release', system, 'bench-etcd-handoff', plan.handoff),
        handoffExpiryNotApplicable: "etcd3's lock keeps its lease alive while the client runs",
        throughput: await peerThroughput('etcd', system, etcd.process, plan, options),
      };
    } finally {
      await etcd.process.stop();
    }
  });
}

/** Every semaphore the Throttle runs use, with its capacity: Throttle refuses semaphores its configuration does not declare. */
function throttleSemaphores(plan: BenchPlan): Record<string, number> {
  const semaphores: Record<string, number> = { 'bench-throttle-cycle': 1, 'bench-throttle-contention': plan.contention.capacity };
  for (let rep = 0; rep < plan.handoff.reps + plan.handoff.warmup; rep++) semaphores[`bench-throttle-handoff-${rep}`] = 1;
  for (let rep = 0; rep < plan.expiry.reps; rep++) semaphores[`bench-throttle-expiry-${rep}`] = 1;
  for (let index = 0; index < Math.max(...plan.throughput.ks); index++) semaphores[`bench-throttle-k-${index}`] = 1;
  return semaphores;
}

/** Cycle, contention (a semaphore of capacity 3), both hand-offs and the K-curve against a fresh Throttle. */
export function measureThrottle(plan: BenchPlan, options: PeerRunOptions): Promise<PeerResults> {
  const waiting = 'long-polls (block_for)';
  return skippedOr('throttle', 'Throttle', waiting, async () => {
    const throttle = await startThrottlePeer(throttleSemaphores(plan));
    try {
      const { system } = throttle;
      const client = await system.connect();
      const cycles = await measureCycles('throttle cycle', [{ label: 'throttle', client, resource: 'bench-throttle-cycle' }], plan.cycle);
      await client.close();
      return {
        peer: 'throttle' as const,
        system: system.name,
        waiting,
        cycle: cycleStats(cycles.get('throttle')!),
        contention: await runContention('throttle contention', system, 'bench-throttle-contention', plan.contention),
        handoffRelease: await runReleaseHandoff('throttle hand-off after release', system, 'bench-throttle-handoff', plan.handoff),
        handoffExpiry: await runExpiryHandoff('throttle hand-off after expiry', system, 'bench-throttle-expiry', plan.expiry),
        throughput: await peerThroughput('throttle', system, throttle.process, plan, options),
      };
    } finally {
      await throttle.process.stop();
    }
  });
}
