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

/** What sets one peer's run apart; its resources are named bench-<peer>-<scenario>. */
interface PeerSpec {
  peer: PeerResults['peer'];
  /** The system's name when it cannot be started (skipped). */
  name: string;
  /** How its waiters notice a freed lock. */
  waiting: string;
  start: () => Promise<{ system: LockSystem; process: PeerProcess }>;
  /** Why the contention run does not apply to this peer, when it does not. */
  contentionNotApplicable?: string;
  /** Why the hand-off after lease expiry does not apply to this peer, when it does not. */
  handoffExpiryNotApplicable?: string;
}

/** Cycle, contention, both hand-offs and the K-curve (those that apply) against a fresh instance of the peer. */
async function measurePeer(spec: PeerSpec, plan: BenchPlan, options: PeerRunOptions): Promise<PeerResults> {
  const { peer, waiting } = spec;
  let started: { system: LockSystem; process: PeerProcess };
  try {
    started = await spec.start();
  } catch (error) {
    if (!(error instanceof PeerSkipped)) throw error;
    say(`peer ${peer} skipped: ${error.message}`);
    return { peer, system: spec.name, waiting, skipped: error.message };
  }
  const { system, process } = started;
  try {
    const client = await system.connect();
    const cycles = await measureCycles(`${peer} cycle`, [{ label: peer, client, resource: `bench-${peer}-cycle` }], plan.cycle);
    await client.close();
    return {
      peer,
      system: system.name,
      waiting,
      cycle: cycleStats(cycles.get(peer)!),
      ...(spec.contentionNotApplicable !== undefined
        ? { contentionNotApplicable: spec.contentionNotApplicable }
        : { contention: await runContention(`${peer} contention`, system, `bench-${peer}-contention`, plan.contention) }),
      handoffRelease: await runReleaseHandoff(`${peer} hand-off after release`, system, `bench-${peer}-handoff`, plan.handoff),
      ...(spec.handoffExpiryNotApplicable !== undefined
        ? { handoffExpiryNotApplicable: spec.handoffExpiryNotApplicable }
        : { handoffExpiry: await runExpiryHandoff(`${peer} hand-off after expiry`, system, `bench-${peer}-expiry`, plan.expiry) }),
      throughput: await peerThroughput(peer, system, process, plan, options),
    };
  } finally {
    await process.stop();
  }
}

/** Cycle (Mutex), contention (Semaphore), both hand-offs and the K-curve against a fresh redis-server. */
export function measureRedis(plan: BenchPlan, options: PeerRunOptions): Promise<PeerResults> {
  return measurePeer(
    { peer: 'redis', name: 'Redis + redis-semaphore', waiting: `polls every ${RETRY_INTERVAL_MS} ms`, start: startRedisPeer },
    plan,
    options,
  );
}

/** Cycle, hand-off after release and the K-curve against a fresh single-member etcd. */
export function measureEtcd(plan: BenchPlan, options: PeerRunOptions): Promise<PeerResults> {
  return measurePeer(
    {
      peer: 'etcd',
      name: 'etcd + etcd3 lock',
      waiting: 'woken by a watch on the lock key',
      start: startEtcdPeer,
      contentionNotApplicable: 'etcd3 has no N-permit semaphore',
      handoffExpiryNotApplicable: "etcd3's lock keeps its lease alive while the client runs",
    },
    plan,
    options,
  );
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
  return measurePeer(
    { peer: 'throttle', name: 'Throttle', waiting: 'long-polls (block_for)', start: () => startThrottlePeer(throttleSemaphores(plan)) },
    plan,
    options,
  );
}
