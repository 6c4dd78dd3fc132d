// The peers run the same loops as the service, with the same plan, one after the other.
import type { BenchPlan } from '../plan.js';
import { say } from '../progress.js';
import { cycleStats, type PeerResults } from '../rows.js';
import { runContention } from '../scenarios/contention.js';
import { measureCycles } from '../scenarios/cycle.js';
import { runExpiryHandoff, runReleaseHandoff } from '../scenarios/handoff.js';
import { startEtcdPeer } from './etcd.js';
import { PeerSkipped } from './peer-process.js';
import { RETRY_INTERVAL_MS, startRedisPeer } from './redis.js';

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
export function measureRedis(plan: BenchPlan): Promise<PeerResults> {
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
      };
    } finally {
      await redis.process.stop();
    }
  });
}

/** Cycle and hand-off after release against a fresh single-member etcd. */
export function measureEtcd(plan: BenchPlan): Promise<PeerResults> {
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
      };
    } finally {
      await etcd.process.stop();
    }
  });
}
