import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { applyNamespaceRetention, retentionDynamicConfig } from './namespace-retention.js';
import { processRunning, spawnSupervised, waitUntilStopped } from './supervised-process.js';

export interface DevServerOptions {
  cliPath: string;
  dataDir: string;
  port: number;
  /** 0 runs the server headless (no Web UI). */
  uiPort: number;
  namespace: string;
  readyTimeoutMs: number;
  log: Logger;
  /** How long closed runs are kept (PERMIT_RETENTION); undefined leaves the namespace's retention as it is. */
  retentionMs?: number;
  /** Where the server serves its Prometheus metrics (the benchmark reads them); a free port of its own choosing when undefined. */
  metricsPort?: number;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  /** The server process. */
  pid: number;
  /** Its supervisor, which stops it when this process dies; also the id of the process group holding both. */
  supervisorPid: number;
  /** Stops the server (SIGTERM, then SIGKILL after a grace period) and forgets its pid file. */
  stop(): Promise<void>;
}

/** Holds the server's pid (not its supervisor's), to find a server left behind by an earlier run. */
const PID_FILE = 'temporal-dev-server.pid';
/** Holds the pid of the service that started the server, to tell a leftover from a server in use. */
const OWNER_FILE = 'temporal-dev-server.owner';
const DB_FILE = 'temporal.db';
const STOP_GRACE_MS = 10_000;

async function processCommandLine(pid: number): Promise<string> {
  try {
    return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return '';
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await fs.readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A server whose supervisor was killed along with its service keeps running and keeps the database
 * file and port; so, for a moment, does one whose supervisor is still stopping it after the service
 * died. It is replaced rather than reused, so this process always owns (and later stops) its server.
 * A server whose service is still alive is not a leftover: that is a second service on the same
 * DATA_DIR, which is refused instead of pulling the database from under the first.
 */
async function replaceLeftoverServer(dataDir: string, log: Logger): Promise<boolean> {
  const pidFile = path.join(dataDir, PID_FILE);
  const pid = await readPid(pidFile);
  const commandLine = pid !== undefined && processRunning(pid) ? await processCommandLine(pid) : '';
  if (pid !== undefined && commandLine.includes('start-dev')) {
    const owner = await liveOwner(dataDir);
    if (owner !== undefined) {
      throw new Error(
        `Another lock service (pid ${owner}) is running its Temporal dev server (pid ${pid}) on ${path.dirname(pidFile)}. ` +
          'Stop it, use another DATA_DIR, or point this one at it with TEMPORAL_ADDRESS.',
      );
    }
    log.warn({ serverPid: pid }, 'replacing a Temporal dev server left behind by an earlier run');
    process.kill(pid, 'SIGTERM');
    if (!(await waitUntilStopped(pid, STOP_GRACE_MS))) {
      process.kill(pid, 'SIGKILL');
      await waitUntilStopped(pid, STOP_GRACE_MS);
    }
  }
  await fs.rm(pidFile, { force: true });
  await fs.rm(path.join(dataDir, OWNER_FILE), { force: true });
  return pid !== undefined && commandLine.includes('start-dev');
}

/**
 * Waits for a replaced server's port to be released. Its main thread shows as exited (a zombie) as
 * soon as it ends, while its other threads, which still hold the listening socket, are torn down.
 */
async function untilPortFree(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await portInUse(port)) && Date.now() < deadline) await delay(50);
}

/** The pid of another, still running service that started the dev server recorded under dataDir. */
async function liveOwner(dataDir: string): Promise<number | undefined> {
  const owner = await readPid(path.join(dataDir, OWNER_FILE));
  return owner !== undefined && owner !== process.pid && processRunning(owner) ? owner : undefined;
}

/** True when a service that is still running started the dev server recorded under dataDir. */
export async function devServerInUse(dataDir: string): Promise<boolean> {
  const pid = await readPid(path.join(dataDir, PID_FILE));
  return pid !== undefined && processRunning(pid) && (await liveOwner(dataDir)) !== undefined;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntilReady(
  address: string,
  namespace: string,
  child: ChildProcess,
  timeoutMs: number,
  recentOutput: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Temporal dev server exited during start-up (${child.exitCode ?? child.signalCode}):\n${recentOutput()}`);
    }
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.withDeadline(Date.now() + 2_000, () =>
          connection.workflowService.describeNamespace({ namespace }),
        );
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
      await delay(250);
    }
  }
  throw new Error(
    `Temporal dev server at ${address} was not ready within ${timeoutMs} ms (${(lastError as Error)?.message}):\n${recentOutput()}`,
  );
}

/** Starts `temporal server start-dev` with its SQLite file under dataDir and waits until it serves the namespace. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { cliPath, dataDir, port, uiPort, namespace, readyTimeoutMs, log, retentionMs } = options;
  await fs.mkdir(dataDir, { recursive: true });
  const pidFile = path.join(dataDir, PID_FILE);
  const ownerFile = path.join(dataDir, OWNER_FILE);
  if (await replaceLeftoverServer(dataDir, log)) await untilPortFree(port, STOP_GRACE_MS);
  if (await portInUse(port)) {
    throw new Error(
      `Port ${port} is already in use, so the embedded Temporal dev server cannot start. ` +
        `Set TEMPORAL_DEV_PORT to a free port, or TEMPORAL_ADDRESS=127.0.0.1:${port} to use the server already there.`,
    );
  }

  const args = [
    'server', 'start-dev',
    '--db-filename', path.join(dataDir, DB_FILE),
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--log-format', 'json',
    '--log-level', 'warn',
    // WAL keeps writers from blocking readers; synchronous=NORMAL is still durable across a process crash.
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
  ];
  const dynamicConfig = retentionMs === undefined ? {} : retentionDynamicConfig(retentionMs);
  for (const [key, value] of Object.entries(dynamicConfig)) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  if (uiPort === 0) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (namespace !== 'default') args.push('--namespace', namespace);
  if (options.metricsPort !== undefined) args.push('--metrics-port', String(options.metricsPort));

  const address = `127.0.0.1:${port}`;
  log.info({ address, dataDir, cli: cliPath }, 'starting embedded Temporal dev server');
  const started = Date.now();
  // Under a supervisor, in a process group of its own: a Ctrl-C in the terminal reaches only the
  // service, which stops the server last, after the worker has shut down against a live server; and
  // the supervisor stops the server when this process dies without stopping it.
  let server;
  try {
    server = await spawnSupervised(cliPath, args, { graceMs: STOP_GRACE_MS });
  } catch (error) {
    throw new Error(`Could not run ${cliPath} under its supervisor: ${(error as Error).message}`, { cause: error });
  }
  const child = server.supervisor;
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const { pid, supervisorPid } = server;
  await fs.writeFile(pidFile, `${pid}\n`);
  await fs.writeFile(ownerFile, `${process.pid}\n`);

  let stopping = false;
  const stop = async () => {
    stopping = true;
    await server.stop();
    await fs.rm(pidFile, { force: true });
    await fs.rm(ownerFile, { force: true });
  };

  try {
    await waitUntilReady(address, namespace, child, readyTimeoutMs, () => output.trim());
    if (retentionMs !== undefined) await applyNamespaceRetention(address, namespace, retentionMs, log);
  } catch (error) {
    await stop();
    throw error;
  }
  const uiUrl = uiPort === 0 ? undefined : `http://127.0.0.1:${uiPort}`;
  log.info({ address, uiUrl, serverPid: pid, supervisorPid, startupMs: Date.now() - started }, 'embedded Temporal dev server is ready');
  // The supervisor exits with the server's status (128 + N when signal N ended it).
  child.once('exit', (code, signal) => {
    if (!stopping) log.error({ code, signal, output: output.slice(-1000) }, 'Temporal dev server exited');
  });
  return { address, uiUrl, pid, supervisorPid, stop };
}
