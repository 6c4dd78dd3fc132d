// Everything the Temporal scenarios run against, started fresh for each run: a Temporal dev server
// in a temp dir, the lock service as its own process (as `npm start` runs it), and an SDK client for
// the raw baseline. The service is a separate process so that the benchmark's own client work does
// not run on the service's event loop and get charged to it.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { generateKey } from '../src/auth/api-keys.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import type { PermitStartDelay } from '../src/temporal/messages.js';
import { startDevServer } from '../src/temporal/dev-server.js';
import { provisionTemporalCli } from '../src/temporal/provision-cli.js';
import { REPO_ROOT, freePort } from '../test/helpers/process.js';
import { onCleanup, spawnTracked, trackGroup, type TrackedChild } from './cleanup.js';
import { KeepAliveHttp } from './http-client.js';
import { say } from './progress.js';

const execFileAsync = promisify(execFile);
let benchKey: { key: string; sha256: string } | undefined;
const SERVICE_READY_TIMEOUT_MS = 180_000;
const SERVICE_STOP_GRACE_MS = 20_000;

export interface EnvironmentOptions {
  /** RESOURCE_CAPACITIES for the service, e.g. "bench-contention=3". */
  resourceCapacities: string;
  /** When set, the service runs with --cpu-prof and writes its profile into this directory at exit. */
  profileDir?: string;
  /** More settings for the service (limits a scenario needs, or `--service-env`), over the benchmark's own. */
  serviceEnv?: Record<string, string>;
  /**
   * When set (`--compare-env`), a second service runs beside the first on the same server, with this
   * environment over the first's and a task queue of its own, so two settings are measured in one run.
   */
  compareEnv?: Record<string, string>;
}

/** The second service of a `--compare-env` run. */
export interface ComparedService {
  url: string;
  pid: number | undefined;
  /** Its settings that differ from the first service's, as KEY=VALUE. */
  label: string;
}

export interface Environment {
  temporalAddress: string;
  /** `temporal --version` of the CLI that runs the dev server. */
  temporalVersion: string;
  serviceUrl: string;
  taskQueue: string;
  /** The service's limits as it parsed them from the same environment. */
  maxHoldMs: number;
  rpcTimeoutMs: number;
  /** The service's PERMIT_START_DELAY, which the raw baseline's starts use too. */
  startDelay: PermitStartDelay;
  /** SDK client for the raw baseline, on its own connection to the same server. */
  client: Client;
  /** For GET /metrics and other reads that are not being measured. */
  http: KeepAliveHttp;
  /** The dev server's Prometheus endpoint: its API calls and persistence requests. */
  serverMetricsUrl: string;
  compared: ComparedService | undefined;
  /** The service's process (node), for its memory and CPU in /proc. */
  servicePid: number;
  /** The Temporal dev server's process. */
  temporalPid: number;
  /** The same process as temporalPid (the aging phase's name for it). */
  serverPid: number;
  /** The dev server's SQLite database (its -wal file lies beside it). */
  databaseFile: string;
  /**
   * Starts one more replica of the service on the same Temporal server and task queue (another port,
   * data dir of its own), as a second instance behind a load balancer would be; stop it when done
   * (it is stopped at cleanup otherwise).
   */
  startReplica(name: string): Promise<Replica>;
  /** Stops the service (its CPU profile is written then), closes the SDK client and stops the dev server. */
  stop(): Promise<void>;
}

/** Another replica of the service, on the same Temporal server and task queue. */
export interface Replica {
  url: string;
  pid: number | undefined;
  http: KeepAliveHttp;
  stop(): Promise<void>;
}

/** Starts the dev server, the service and an SDK client; everything is registered for cleanup. */
export async function startEnvironment(options: EnvironmentOptions): Promise<Environment> {
  // Provisioning and dev-server lines go to stderr at warn: stdout is for the table only.
  const log = createLogger('warn', pino.destination(2));
  const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: '' });
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-bench-'));
  onCleanup('remove the temp dir', () => fs.rm(workDir, { recursive: true, force: true }));

  const cliPath = await provisionTemporalCli({ ...config.devServer, log });
  const temporalVersion = (await execFileAsync(cliPath, ['--version'])).stdout.trim();
  say(`starting the Temporal dev server (${temporalVersion})`);
  const temporalDir = path.join(workDir, 'temporal');
  const metricsPort = await freePort();
  const server = await startDevServer({
    cliPath,
    dataDir: temporalDir,
    port: await freePort(),
    uiPort: 0,
    namespace: 'default',
    readyTimeoutMs: config.devServer.readyTimeoutMs,
    log,
    metricsPort,
  });
  // The server's supervisor leads the group that holds both.
  const serverGroup = trackGroup(server.supervisorPid);
  const stopServer = onceOnly(async () => {
    await server.stop();
    serverGroup.forget();
  });
  onCleanup('stop the Temporal dev server', stopServer);

  // The service checks API keys, as one on a shared network does: every request pays for the check.
  // One key for the whole run: every client sends KeepAliveHttp.apiKey, to whichever environment.
  benchKey ??= generateKey();
  const keysFile = path.join(workDir, 'api-keys.json');
  await fs.writeFile(keysFile, JSON.stringify([{ name: 'bench', role: 'admin', sha256: benchKey.sha256 }]));
  KeepAliveHttp.apiKey = benchKey.key;

  const taskQueue = `bench-${randomUUID()}`;
  const serviceEnv: Record<string, string> = {
    API_KEYS_FILE: keysFile,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    DATA_DIR: path.join(workDir, 'service'),
    RESOURCE_CAPACITIES: options.resourceCapacities,
    ...options.serviceEnv,
  };
  const serviceConfig = loadConfig(serviceEnv);
  const serviceUrl = `http://127.0.0.1:${serviceEnv.PORT}`;
  say(`starting the lock service on ${serviceUrl} (its workflow bundle is read from the cache, or made once)`);
  const service = spawnService(serviceEnv, options.profileDir);
  const stopService = onceOnly(() => stopChild(service));
  onCleanup('stop the lock service', stopService);
  await waitUntilReady(serviceUrl, service);
  const compared = options.compareEnv ? await startComparedService(serviceEnv, options.compareEnv, taskQueue, workDir, options.profileDir) : undefined;

  const connection = await Connection.connect({ address: server.address });
  const closeConnection = onceOnly(() => connection.close());
  onCleanup('close the SDK connection', closeConnection);
  const http = new KeepAliveHttp(serviceUrl);
  onCleanup('close the HTTP connections', async () => http.close());

  return {
    temporalAddress: server.address,
    temporalVersion,
    serviceUrl,
    taskQueue,
    maxHoldMs: serviceConfig.limits.maxHoldMs,
    rpcTimeoutMs: serviceConfig.temporal.rpcTimeoutMs,
    startDelay: serviceConfig.permitStart.delay,
    client: new Client({ connection, namespace: 'default' }),
    http,
    serverMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    compared: compared?.service,
    servicePid: service.child.pid!,
    serverPid: server.pid,
    databaseFile: path.join(temporalDir, 'temporal.db'),
    temporalPid: server.pid,
    startReplica: async (name) => {
      const replicaEnv = { ...serviceEnv, PORT: String(await freePort()), DATA_DIR: path.join(workDir, name) };
      const url = `http://127.0.0.1:${replicaEnv.PORT}`;
      say(`starting replica ${name} of the lock service on ${url} (same Temporal server and task queue)`);
      const replica = spawnService(replicaEnv, undefined);
      const replicaHttp = new KeepAliveHttp(url);
      const stopReplica = onceOnly(async () => {
        replicaHttp.close();
        await stopChild(replica);
      });
      onCleanup(`stop replica ${name}`, stopReplica);
      await waitUntilReady(url, replica);
      return { url, pid: replica.child.pid, http: replicaHttp, stop: stopReplica };
    },
    stop: async () => {
      await compared?.stop();
      await stopService();
      await closeConnection();
      http.close();
      await stopServer();
    },
  };
}

/** The second service of a `--compare-env` run: the first's settings, then these, on a task queue and port of its own. */
async function startComparedService(
  base: Record<string, string>,
  compareEnv: Record<string, string>,
  taskQueue: string,
  workDir: string,
  profileDir: string | undefined,
): Promise<{ service: ComparedService; stop: () => Promise<void> }> {
  const env = {
    ...base,
    TEMPORAL_TASK_QUEUE: `${taskQueue}-compared`,
    PORT: String(await freePort()),
    DATA_DIR: path.join(workDir, 'compared-service'),
    ...compareEnv,
  };
  loadConfig(env);
  const url = `http://127.0.0.1:${env.PORT}`;
  const label = Object.entries(compareEnv)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  say(`starting a second lock service with ${label} on ${url}`);
  const child = spawnService(env, profileDir);
  const stop = onceOnly(() => stopChild(child));
  onCleanup('stop the compared lock service', stop);
  await waitUntilReady(url, child);
  return { service: { url, pid: child.child.pid, label }, stop };
}

/** `node --import tsx src/main.ts` is `npm start` without the extra tsx launcher process in between. */
function spawnService(env: Record<string, string>, profileDir: string | undefined): TrackedChild {
  const inherited: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(inherited)) {
    if (name.startsWith('TEMPORAL_') || name === 'RESOURCE_CAPACITIES' || name === 'NODE_OPTIONS') delete inherited[name];
  }
  const profiling = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  return spawnTracked(process.execPath, [...profiling, '--import', 'tsx', 'src/main.ts'], { cwd: REPO_ROOT, env: { ...inherited, ...env } }, 4_000);
}

async function waitUntilReady(url: string, service: TrackedChild): Promise<void> {
  const probe = new KeepAliveHttp(url);
  const deadline = Date.now() + SERVICE_READY_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      if (service.child.exitCode !== null || service.child.signalCode !== null) {
        throw new Error(`the lock service exited during start-up:\n${service.output()}`);
      }
      try {
        if ((await probe.request('GET', '/readyz')).status === 200) return;
      } catch {
        // not listening yet
      }
      await delay(200);
    }
    throw new Error(`the lock service was not ready within ${SERVICE_READY_TIMEOUT_MS} ms:\n${service.output()}`);
  } finally {
    probe.close();
  }
}

/** SIGTERM (the service shuts down in its phases and a CPU profile gets written), SIGKILL if it hangs. */
async function stopChild({ child, closed }: TrackedChild): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, SERVICE_STOP_GRACE_MS);
  await closed;
  clearTimeout(timer);
}

function onceOnly(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
