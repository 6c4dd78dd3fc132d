// The cluster topology (`npm run chaos -- --cluster`): what `npm run cluster` starts (PostgreSQL, a
// Temporal server with 4 history shards on it, api, worker and all replicas, HAProxy in front of the
// api and all replicas), with each replica reaching Temporal through a fault proxy of its own so the
// run can cut that link. Clients go through the load balancer only.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { onCleanup } from '../bench/cleanup.js';
import { say } from '../bench/progress.js';
import { startCluster } from '../cluster/cluster.js';
import { startFaultProxy, type FaultProxy } from '../test/helpers/fault-proxy.js';
import type { FaultKind, Topology } from './topology.js';

/** Starts the cluster; everything is registered for cleanup. Logs go to `<logDir>/<process>.log`. */
export async function startClusterTopology(capacities: Record<string, number>, logDir: string): Promise<Topology> {
  const proxies: FaultProxy[] = [];
  const cluster = await startCluster({
    capacities,
    logDir,
    taskQueue: `chaos-${randomUUID()}`,
    logLevel: 'warn',
    say,
    temporalLink: async (index, serverAddress) => {
      const proxy = await startFaultProxy({ after: (fn) => onCleanup(`close the fault proxy of replica ${index}`, fn) }, serverAddress);
      proxies[index] = proxy;
      return proxy.address;
    },
  });
  const faultKinds: FaultKind[] = ['replica_kill', 'temporal_kill', 'postgres_kill', 'holder_pause', 'tcp_cut'];
  return {
    name: 'cluster',
    urls: [cluster.url],
    urlsAreReplicas: false,
    faultKinds,
    replicaCount: cluster.replicas.length,
    capacities,
    killReplica: (index) => cluster.killReplica(index),
    restartReplica: (index) => cluster.restartReplica(index),
    killTemporal: () => cluster.temporal.kill(),
    restartTemporal: () => cluster.temporal.restart(),
    killPostgres: () => cluster.postgres.kill(),
    restartPostgres: () => cluster.postgres.restart(),
    cutTemporalLink: async (index, forMs) => {
      const proxy = proxies[index]!;
      proxy.stall();
      await delay(forMs);
      proxy.resetConnections();
      proxy.resume();
    },
    describeReplica: (index) => `the ${cluster.replicas[index]!.role} replica`,
    metricsUrls: () => cluster.replicas.map((replica) => `${replica.url}/metrics`),
    stop: () => cluster.stop(),
  };
}
