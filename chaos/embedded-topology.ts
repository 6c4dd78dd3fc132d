// The embedded topology: one Temporal dev server (the CLI `npm start` runs, SQLite in a temp dir) and
// two replicas of the lock service (SERVICE_ROLE=all, each its own process, as `npm start` runs it),
// each reaching Temporal through a fault proxy of its own so the run can cut that link.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { killGroup, onCleanup, spawnTracked, trackGroup, type TrackedChild } from '../bench/cleanup.js';
import { say } from '../bench/progress.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startDevServer, type DevServer } from '../src/temporal/dev-server.js';
import { provisionTemporalCli } from '../src/temporal/provision-cli.js';
import { startFaultProxy, type FaultProxy } from '../test/helpers/fault-proxy.js';
import { REPO_ROOT, freePort } from '../test/helpers/process.js';
import type { FaultKind, Topology } from './topology.js';

const READY_TIMEOUT_MS = 180_000;

interface Replica {
  port: number;
  url: string;
  proxy: FaultProxy;
  process: TrackedChild | undefined;
}

async function untilReady(url: string, replica: Replica): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const child = replica.process?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`replica ${url} exited during start-up:\n${replica.process?.output() ?? ''}`);
    }
    try {
      const answer = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (answer.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`replica ${url} was not ready within ${READY_TIMEOUT_MS} ms:\n${replica.process?.output() ?? ''}`);
    await delay(200);
  }
}

/**
 * Starts the dev server and the replicas; everything is registered for cleanup. The replicas' logs
 * (warnings and errors) are appended to `<logDir>/replica-<n>.log`, across their restarts.
 */
export async function startEmbeddedTopology(capacities: Record<string, number>, logDir: string, replicaCount = 2): Promise<Topology> {
  await fs.mkdir(logDir, { recursive: true });
  const log = createLogger('warn', pino.destination(2));
  const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: '' });
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-chaos-'));
  onCleanup('remove the temp dir', () => fs.rm(workDir, { recursive: true, force: true }));
  const cliPath = await provisionTemporalCli({ ...config.devServer, log });
  const temporalPort = await freePort();
  const startServer = () =>
    startDevServer({
      cliPath,
      dataDir: path.join(workDir, 'temporal'),
      port: temporalPort,
      uiPort: 0,
      namespace: 'default',
      readyTimeoutMs: config.devServer.readyTimeoutMs,
      log,
    });
  say('starting the Temporal dev server');
  let server: DevServer | undefined = await startServer();
  let serverGroup = trackGroup(server.supervisorPid);
  onCleanup('stop the Temporal dev server', async () => {
    await server?.stop();
    serverGroup.forget();
  });

  const taskQueue = `chaos-${randomUUID()}`;
  const resourceCapacities = Object.entries(capacities).map(([resource, capacity]) => `${resource}=${capacity}`).join(',');
  const replicas: Replica[] = [];
  for (let index = 0; index < replicaCount; index++) {
    const proxy = await startFaultProxy({ after: (fn) => onCleanup(`close the fault proxy of replica ${index}`, fn) }, server.address);
    const port = await freePort();
    replicas.push({ port, url: `http://127.0.0.1:${port}`, proxy, process: undefined });
  }

  const spawnReplica = async (index: number) => {
    const replica = replicas[index]!;
    const inherited: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(inherited)) {
      if (name.startsWith('TEMPORAL_') || name === 'RESOURCE_CAPACITIES' || name === 'NODE_OPTIONS') delete inherited[name];
    }
    const env = {
      ...inherited,
      TEMPORAL_ADDRESS: replica.proxy.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      HOST: '127.0.0.1',
      PORT: String(replica.port),
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(workDir, `replica-${index}`),
      RESOURCE_CAPACITIES: resourceCapacities,
      SHUTDOWN_TIMEOUT_MS: '5000',
    };
    replica.process = spawnTracked(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env }, 8_000);
    const logFile = createWriteStream(path.join(logDir, `replica-${index}.log`), { flags: 'a' });
    replica.process.child.stdout?.pipe(logFile);
    replica.process.child.stderr?.pipe(logFile);
    await untilReady(replica.url, replica);
  };
  const stopReplica = async (index: number) => {
    const child = replicas[index]?.process?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 20_000);
    await replicas[index]!.process!.closed;
    clearTimeout(timer);
  };
  for (let index = 0; index < replicaCount; index++) {
    onCleanup(`stop replica ${index}`, () => stopReplica(index));
  }
  say(`starting ${replicaCount} replicas (each bundles its workflow code first)`);
  await Promise.all(replicas.map((_, index) => spawnReplica(index)));

  const faultKinds: FaultKind[] = ['replica_kill', 'temporal_kill', 'holder_pause', 'tcp_cut'];
  return {
    name: 'embedded',
    urls: replicas.map((replica) => replica.url),
    urlsAreReplicas: true,
    faultKinds,
    replicaCount,
    capacities,
    killReplica: (index) => killGroup(replicas[index]!.process),
    restartReplica: (index) => spawnReplica(index),
    killTemporal: async () => {
      if (!server) return;
      process.kill(server.pid, 'SIGKILL');
      // stop() only waits for the exit and forgets the pid file, as the next start expects.
      await server.stop();
      serverGroup.forget();
      server = undefined;
    },
    restartTemporal: async () => {
      server = await startServer();
      serverGroup = trackGroup(server.supervisorPid);
    },
    cutTemporalLink: async (index, forMs) => {
      const { proxy } = replicas[index]!;
      proxy.stall();
      await delay(forMs);
      proxy.resetConnections();
      proxy.resume();
    },
    describeReplica: (index) => `replica ${index}`,
    metricsUrls: () => replicas.map((replica) => `${replica.url}/metrics`),
    stop: async () => {
      await Promise.all(replicas.map((_, index) => stopReplica(index)));
      await server?.stop();
      serverGroup.forget();
      server = undefined;
    },
  };
}
