// The production-shaped topology on one machine: PostgreSQL, a Temporal server on it with 4 history
// shards, three replicas of the lock service (api, worker, all) and HAProxy in front of the two that
// serve the API. Every config comes from deploy/, filled with the ports picked here. Everything
// started is registered with bench/cleanup.ts, so a normal end, a failure and a Ctrl-C stop it all.
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { killGroup, onCleanup, spawnTracked, type TrackedChild } from '../bench/cleanup.js';
import { EnvSchema, loadConfig } from '../src/config.js';
import type { ServiceRole } from '../src/service-role.js';
import { startPostgres, type Postgres } from '../examples/fencing-store/postgres.js';
import { REPO_ROOT, freePort } from '../test/helpers/process.js';
import { ensureClusterPackages, startLoadBalancer } from './load-balancer.js';
import { parseEnvFile, readDeployFile, renderTemplate } from './templates.js';
import { provisionTemporalServer, type TemporalServerBuild } from './temporal-server-build.js';
import { setupSchemas, startTemporalServer, type TemporalServer } from './temporal-server.js';

/** The replicas, in this order: index 0 is the api replica, 1 the worker, 2 the all. */
export const REPLICA_ROLES: readonly ServiceRole[] = ['api', 'worker', 'all'];
/** Which replicas the load balancer sends requests to. */
export const BEHIND_LOAD_BALANCER: readonly ServiceRole[] = ['api', 'all'];

const READY_TIMEOUT_MS = 180_000;

export interface ClusterOptions {
  /** RESOURCE_CAPACITIES of every replica. */
  capacities: Record<string, number>;
  /** Where the processes' logs go (one file each, appended across restarts). */
  logDir: string;
  /** Task queue the replicas share. */
  taskQueue?: string;
  /** LOG_LEVEL of the replicas. */
  logLevel?: string;
  /**
   * The address a replica reaches Temporal by: the server's own, or a fault proxy in front of it that
   * the chaos run cuts. Called once per replica.
   */
  temporalLink?: (replica: number, serverAddress: string) => Promise<string>;
  say: (line: string) => void;
}

export interface ClusterReplica {
  role: ServiceRole;
  url: string;
  port: number;
  temporalAddress: string;
  process: TrackedChild | undefined;
}

export interface Cluster {
  /** The load balancer's URL: what clients use. */
  url: string;
  replicas: ClusterReplica[];
  temporal: TemporalServer;
  postgres: Postgres;
  build: TemporalServerBuild;
  /** SIGKILL of a replica's process group. */
  killReplica(index: number): Promise<void>;
  /** Starts a killed replica again with the same settings and waits until /readyz is 200. */
  restartReplica(index: number): Promise<void>;
  stop(): Promise<void>;
}

/** What the deploy/replicas/*.env placeholders are filled with, for one replica. */
export function replicaTemplateValues(
  ports: Readonly<Record<string, number>>,
  settings: { temporalAddress: string; taskQueue: string; capacities: string; logLevel: string },
): Record<string, string | number> {
  return {
    ...ports,
    TEMPORAL_ADDRESS: settings.temporalAddress,
    TEMPORAL_TASK_QUEUE: settings.taskQueue,
    RESOURCE_CAPACITIES: settings.capacities,
    LOG_LEVEL: settings.logLevel,
  };
}

/** Each replica's port variable, as the deploy/replicas/*.env files name it. */
export const REPLICA_PORT_VARIABLE: Readonly<Record<ServiceRole, string>> = { api: 'API_PORT', worker: 'WORKER_PORT', all: 'ALL_PORT' };

/** The environment a replica runs with: deploy/replicas/<role>.env filled in, over an environment without lock-service settings. */
export async function replicaEnvironment(role: ServiceRole, values: Record<string, string | number>): Promise<Record<string, string>> {
  const file = `replicas/${role}.env`;
  return parseEnvFile(renderTemplate(await readDeployFile(file), values, `deploy/${file}`), `deploy/${file}`);
}

async function untilReady(replica: ClusterReplica): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const child = replica.process?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the ${replica.role} replica exited during start-up:\n${replica.process?.output() ?? ''}`);
    }
    try {
      const answer = await fetch(`${replica.url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (answer.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the ${replica.role} replica was not ready within ${READY_TIMEOUT_MS} ms:\n${replica.process?.output() ?? ''}`);
    await delay(200);
  }
}

/** Starts the whole topology and returns once the load balancer answers through a ready replica. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const { say } = options;
  await fs.mkdir(options.logDir, { recursive: true });
  await ensureClusterPackages();
  const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: '' });
  const build = await provisionTemporalServer(config.devServer.cacheDir, say);
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-cluster-'));
  onCleanup('remove the cluster\'s temp dir', () => fs.rm(workDir, { recursive: true, force: true }));

  say('starting PostgreSQL');
  const postgres = await startPostgres({ user: 'temporal', maxConnections: 200 });
  onCleanup('stop PostgreSQL', () => postgres.stop());
  const pgAddress = { host: postgres.host, port: postgres.port, user: postgres.user, password: 'temporal' };
  say(`PostgreSQL on ${postgres.host}:${postgres.port}; setting up the temporal and temporal_visibility schemas with temporal-sql-tool`);
  await setupSchemas(build, pgAddress);

  say(`starting temporal-server ${build.version} (4 history shards, PostgreSQL persistence and visibility)`);
  const temporal = await startTemporalServer({ build, postgres: pgAddress, workDir: path.join(workDir, 'temporal'), logFile: path.join(options.logDir, 'temporal-server.log') });
  onCleanup('stop temporal-server', () => temporal.stop());
  say(`temporal-server on ${temporal.address}`);

  const ports = Object.fromEntries(await Promise.all(REPLICA_ROLES.map(async (role) => [REPLICA_PORT_VARIABLE[role], await freePort()] as const)));
  const replicas: ClusterReplica[] = [];
  for (const [index, role] of REPLICA_ROLES.entries()) {
    const port = ports[REPLICA_PORT_VARIABLE[role]]!;
    const temporalAddress = options.temporalLink ? await options.temporalLink(index, temporal.address) : temporal.address;
    replicas.push({ role, port, url: `http://127.0.0.1:${port}`, temporalAddress, process: undefined });
  }
  const capacities = Object.entries(options.capacities).map(([resource, capacity]) => `${resource}=${capacity}`).join(',');
  const taskQueue = options.taskQueue ?? 'lock-service';

  const spawnReplica = async (index: number) => {
    const replica = replicas[index]!;
    const env = await replicaEnvironment(
      replica.role,
      replicaTemplateValues(ports, { temporalAddress: replica.temporalAddress, taskQueue, capacities, logLevel: options.logLevel ?? 'warn' }),
    );
    // Only the file's settings: none of this shell's lock-service variables leak into a replica.
    const inherited: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(inherited)) {
      if (name in EnvSchema.shape || name === 'NODE_OPTIONS') delete inherited[name];
    }
    replica.process = spawnTracked(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env: { ...inherited, ...env } }, 8_000);
    const logFile = createWriteStream(path.join(options.logDir, `replica-${replica.role}.log`), { flags: 'a' });
    replica.process.child.stdout?.pipe(logFile);
    replica.process.child.stderr?.pipe(logFile);
    await untilReady(replica);
  };
  const stopReplica = async (index: number) => {
    const tracked = replicas[index]?.process;
    const child = tracked?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 20_000);
    await tracked.closed;
    clearTimeout(timer);
  };
  for (const index of replicas.keys()) onCleanup(`stop the ${replicas[index]!.role} replica`, () => stopReplica(index));
  say(`starting 3 replicas (${REPLICA_ROLES.join(', ')}); the worker and all replicas bundle the workflow code first`);
  await Promise.all(replicas.map((_, index) => spawnReplica(index)));

  const lbPort = await freePort();
  const balancer = await startLoadBalancer({
    port: lbPort,
    apiPort: ports.API_PORT!,
    allPort: ports.ALL_PORT!,
    workDir,
    logFile: path.join(options.logDir, 'haproxy.log'),
  });
  onCleanup('stop haproxy', () => balancer.stop());
  // HAProxy's first health checks pass within a second or two; until then it answers 503 itself.
  const deadline = Date.now() + 60_000;
  while ((await fetch(`${balancer.url}/readyz`).then((answer) => answer.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error(`the load balancer at ${balancer.url} found no ready replica within 60 s`);
    await delay(250);
  }

  return {
    url: balancer.url,
    replicas,
    temporal,
    postgres,
    build,
    killReplica: (index) => killGroup(replicas[index]!.process),
    restartReplica: (index) => spawnReplica(index),
    stop: async () => {
      await balancer.stop();
      await Promise.all(replicas.map((_, index) => stopReplica(index)));
      await temporal.stop();
      await postgres.stop();
    },
  };
}
