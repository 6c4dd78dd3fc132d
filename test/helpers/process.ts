import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The phases of LockService.stop(), in the order they must run: requests first, the embedded server last. */
export const SHUTDOWN_PHASES = [
  'stop waiting acquires and background calls',
  'close HTTP server (in-flight requests finish)',
  'shut down Temporal worker',
  'close worker connection',
  'close slot-watch connection',
  'close Temporal client connection',
  'stop embedded Temporal dev server',
];

/** Long enough for tsx, the workflow bundle and a dev server start on a busy 2-core machine. */
const START_TIMEOUT_MS = 180_000;

export interface LogLine {
  msg?: string;
  level?: number;
  pid?: number;
  [key: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How the service is run: `node --import tsx src/main.ts`, or `npm start` (npm → sh → tsx → node) as a user runs it. */
export type Launcher = 'node' | 'npm';

export interface ServiceProcess {
  child: ChildProcess;
  /** The spawned process, leader of its own process group: the service itself, or npm with the npm launcher. */
  groupId: number;
  dataDir: string;
  /** Every stdout line so far; pino lines parsed, anything else as { raw }. */
  logs: LogLine[];
  stderr(): string;
  exited: Promise<Exit>;
  waitForLog(what: string, predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  waitForExit(timeoutMs: number): Promise<Exit>;
}

export interface RunningService extends ServiceProcess {
  url: string;
  /** The service process, from its own log lines (with the node launcher, the group leader). */
  pid: number;
  /** The embedded dev server's pid, from the "is ready" log line. */
  serverPid: number;
  /** The dev server's supervisor (leader of the server's process group), when the service runs one. */
  supervisorPid: number | undefined;
  devPort: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function testCliPath(): string {
  const cli = process.env.TEMPORAL_TEST_CLI;
  if (!cli) throw new Error('TEMPORAL_TEST_CLI is not set: run the tests with `npm test`');
  return cli;
}

const cleanupsByTest = new WeakMap<TestContext, Array<() => Promise<void>>>();

/** Runs fn after the test, even when it failed; last registered runs first (processes die before their data dir goes). */
function onCleanup(t: TestContext, fn: () => Promise<void>): void {
  let cleanups = cleanupsByTest.get(t);
  if (!cleanups) {
    const list: Array<() => Promise<void>> = [];
    cleanups = list;
    cleanupsByTest.set(t, list);
    t.after(async () => {
      for (const cleanup of list.reverse()) await cleanup();
    });
  }
  cleanups.push(fn);
}

/** A fresh DATA_DIR, removed after the test. */
export async function tempDataDir(t: TestContext): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'lock-service-proc-'));
  onCleanup(t, () => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * True when the process no longer runs. A zombie counts as gone: PID 1 of a container may reap
 * orphans late, and until then `kill(pid, 0)` still reports a killed orphan as alive.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** The pids in a process group, read from /proc (Linux). */
export function processGroupMembers(groupId: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name: state, ppid, pgrp, …
      const [, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === groupId) members.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return members;
}

export async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!processGone(pid)) {
    if (Date.now() > deadline) return false;
    await delay(100);
  }
  return true;
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * Kills a dev server (target: its pid) or its supervisor's whole process group (target: minus the
 * supervisor's pid), only if that pid still runs the dev server on this data directory: pids get reused.
 * The supervisor's command line carries the server's, so the same check fits both.
 */
function killDevServer(pid: number, dataDir: string, target = pid): void {
  const cmd = commandLine(pid);
  if (cmd.includes('start-dev') && cmd.includes(dataDir)) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The promise's value, or 'timeout'; the timer is cleared either way so it never holds the test process open. */
async function raceTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function tail(text: string, chars = 3000): string {
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

/**
 * Runs the real entry point. `npm start` is `tsx src/main.ts`; the node launcher runs
 * `node --import tsx src/main.ts`, the same program without the npm and tsx launcher processes,
 * so the pid we signal is the service itself. The npm launcher runs `npm start` itself, for what
 * the launchers do with signals. Detached: the child leads its own process group, so a test can
 * signal the group as a terminal or a process manager does, and cleanup can kill it.
 */
export function spawnService(
  t: TestContext,
  dataDir: string,
  env: Record<string, string>,
  launcher: Launcher = 'node',
): ServiceProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(childEnv)) {
    if (name.startsWith('TEMPORAL_') || name.startsWith('NODE_TEST')) delete childEnv[name];
  }
  const [command, args] = launcher === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'src/main.ts']];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...childEnv,
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      TEMPORAL_DEV_UI_PORT: '0',
      TEMPORAL_CLI: testCliPath(),
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  if (child.pid === undefined) throw new Error('could not spawn the service');
  const groupId = child.pid;

  const logs: LogLine[] = [];
  const lines = new EventEmitter();
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!text.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { raw: text };
      }
      logs.push(line);
      lines.emit('line', line);
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });

  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    // 'close', not 'exit': only then has every line the child wrote to stdout been read.
    child.once('close', (code, signal) => {
      exit = { code, signal };
      lines.emit('exit');
      resolve(exit);
    });
  });

  const describe = () =>
    `service (${launcher} launcher, group ${groupId}) ${exit ? `exited ${JSON.stringify(exit)}` : 'running'}\n` +
    `stdout:\n${tail(logs.map((line) => JSON.stringify(line)).join('\n'))}\nstderr:\n${tail(stderr)}`;

  onCleanup(t, async () => {
    try {
      // Also after the leader exited: a launcher can exit before the service it started.
      process.kill(-groupId, 'SIGKILL');
    } catch {
      // group already gone
    }
    const ready = logs.find((line) => typeof line.serverPid === 'number');
    if (typeof ready?.supervisorPid === 'number') killDevServer(ready.supervisorPid, dataDir, -ready.supervisorPid);
    if (typeof ready?.serverPid === 'number') killDevServer(ready.serverPid, dataDir);
    let fromFile = 0;
    try {
      fromFile = Number(fs.readFileSync(path.join(dataDir, 'temporal-dev-server.pid'), 'utf8').trim());
    } catch {
      // no pid file: no server, or it was stopped cleanly
    }
    if (fromFile > 0) killDevServer(fromFile, dataDir);
    if (!exit) await raceTimeout(exited, 5_000);
  });

  const waitForLog: ServiceProcess['waitForLog'] = (what, predicate, timeoutMs = START_TIMEOUT_MS) =>
    new Promise((resolve, reject) => {
      const found = logs.find(predicate);
      if (found) return resolve(found);
      const finish = (error: Error | undefined, line?: LogLine) => {
        clearTimeout(timer);
        lines.off('line', onLine);
        lines.off('exit', onExit);
        if (error) reject(error);
        else resolve(line!);
      };
      const onLine = (line: LogLine) => {
        if (predicate(line)) finish(undefined, line);
      };
      const onExit = () => finish(new Error(`service exited before logging ${what}\n${describe()}`));
      const timer = setTimeout(() => finish(new Error(`no ${what} within ${timeoutMs} ms\n${describe()}`)), timeoutMs);
      lines.on('line', onLine);
      lines.on('exit', onExit);
      if (exit) onExit();
    });

  const waitForExit = async (timeoutMs: number): Promise<Exit> => {
    const outcome = await raceTimeout(exited, timeoutMs);
    if (outcome === 'timeout') throw new Error(`service did not exit within ${timeoutMs} ms\n${describe()}`);
    return outcome;
  };

  return { child, groupId, dataDir, logs, stderr: () => stderr, exited, waitForLog, waitForExit };
}

/** Spawns the service with its own embedded dev server and waits until it listens. */
export async function startService(
  t: TestContext,
  options: { dataDir: string; devPort?: number; env?: Record<string, string>; launcher?: Launcher },
): Promise<RunningService> {
  const devPort = options.devPort ?? (await freePort());
  // PORT 0: the system picks a free port and the service logs its URL, so concurrent test files
  // cannot race each other for a port found free a moment earlier.
  const proc = spawnService(
    t,
    options.dataDir,
    { PORT: '0', TEMPORAL_DEV_PORT: String(devPort), ...options.env },
    options.launcher,
  );
  const ready = await proc.waitForLog('"embedded Temporal dev server is ready"', (line) => line.msg === 'embedded Temporal dev server is ready');
  const listening = await proc.waitForLog('"lock service listening"', (line) => line.msg === 'lock service listening');
  return {
    ...proc,
    url: String(listening.url),
    pid: Number(listening.pid),
    serverPid: Number(ready.serverPid),
    supervisorPid: typeof ready.supervisorPid === 'number' ? ready.supervisorPid : undefined,
    devPort,
  };
}

/**
 * Spawns the real entry point as one replica on a Temporal server that runs elsewhere (the suite's,
 * by default), with no embedded server of its own, and waits until it listens. `env` sets its
 * SERVICE_ROLE, TEMPORAL_TASK_QUEUE and the like.
 */
export async function startReplica(
  t: TestContext,
  env: Record<string, string>,
): Promise<ServiceProcess & { url: string }> {
  const address = process.env.TEMPORAL_TEST_ADDRESS;
  if (!address) throw new Error('TEMPORAL_TEST_ADDRESS is not set: run the tests with `npm test`');
  const proc = spawnService(t, await tempDataDir(t), { PORT: '0', TEMPORAL_ADDRESS: address, ...env });
  const listening = await proc.waitForLog('"lock service listening"', (line) => line.msg === 'lock service listening');
  return { ...proc, url: String(listening.url) };
}

export interface HttpResponse {
  status: number;
  body: any;
  headers: Headers;
  /** How long the answer took, in ms. */
  ms: number;
}

/** Real HTTP with a bounded wait, JSON in and out. */
export async function http(
  method: string,
  url: string,
  body?: unknown,
  options: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<HttpResponse> {
  const started = performance.now();
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  const json = (response.headers.get('content-type') ?? '').includes('json') && text !== '';
  return { status: response.status, body: json ? JSON.parse(text) : text, headers: response.headers, ms };
}
