// A replica restarted on a Temporal server that is up: the time from its process start until
// /readyz answers 200, over a few restarts of the same replica (same task queue, same bundle cache).
// Each start logs how long its steps took; those say what a restart waits on.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { REPO_ROOT, freePort } from '../../test/helpers/process.js';
import { trackChild } from '../cleanup.js';
import { KeepAliveHttp } from '../http-client.js';
import { progress, say } from '../progress.js';
import { formatMs, type Row } from '../report.js';
import { mean, summarize } from '../stats.js';

export interface RestartPlan {
  /** Starts after the first one (which may have to bundle, if the cache has no bundle of these sources). */
  restarts: number;
  readyTimeoutMs: number;
  /** Also `npm run build` and restart `node dist/main.js`, as the image runs it (tens of seconds more). */
  built: boolean;
}

export interface RestartSample {
  /** From spawning `node --import tsx src/main.ts` until the first /readyz 200. */
  readyMs: number;
  /** What the bundle cache said on this start: hit, miss or off. */
  bundleCache: string | undefined;
  /** The service's own times of its start-up steps, in ms since its process started. */
  startup: Record<string, number> | undefined;
}

export interface RestartRun {
  /** How the service was run: the command line after `node`. */
  command: string;
  first: RestartSample;
  restarts: RestartSample[];
}

export interface RestartResult {
  runs: RestartRun[];
  /** Why the built variant was not measured, when it was asked for. */
  builtSkipped?: string;
}

const POLL_MS = 10;
const STOP_TIMEOUT_MS = 30_000;

/** One start of the checkout at `cwd`: spawn, poll /readyz until 200, read the start-up lines, stop with SIGTERM. */
export async function startOnce(
  temporalAddress: string,
  taskQueue: string,
  dataDir: string,
  timeoutMs: number,
  cwd = REPO_ROOT,
  entry: string[] = ['--import', 'tsx', 'src/main.ts'],
): Promise<RestartSample> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('TEMPORAL_') || name === 'NODE_OPTIONS' || name === 'API_KEYS_FILE') delete env[name];
  const started = performance.now();
  const child = spawn(process.execPath, entry, {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_TASK_QUEUE: taskQueue, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', DATA_DIR: dataDir },
  });
  trackChild(child);
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.resume();
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const probe = new KeepAliveHttp(`http://127.0.0.1:${port}`);
  try {
    let readyMs: number | undefined;
    while (readyMs === undefined) {
      if (child.exitCode !== null) throw new Error(`the service exited during start-up:\n${stdout.slice(-3000)}`);
      if (performance.now() - started > timeoutMs) throw new Error(`the service was not ready within ${timeoutMs} ms:\n${stdout.slice(-3000)}`);
      try {
        if ((await probe.request('GET', '/readyz')).status === 200) readyMs = performance.now() - started;
      } catch {
        // not listening yet
      }
      if (readyMs === undefined) await delay(POLL_MS);
    }
    const lines = stdout.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as { msg?: string; cache?: string; startupMsSinceProcessStart?: Record<string, number> }];
      } catch {
        return [];
      }
    });
    return {
      readyMs,
      bundleCache: lines.find((line) => line.msg?.startsWith('workflow bundle cache') || line.msg?.startsWith('workflow code bundled'))?.cache,
      startup: lines.find((line) => line.msg === 'lock service listening')?.startupMsSinceProcessStart,
    };
  } finally {
    probe.close();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), STOP_TIMEOUT_MS);
    await closed;
    clearTimeout(timer);
  }
}

/** Starts one replica, then restarts it `restarts` times, each time after the previous one stopped. */
async function restartRun(phase: string, temporalAddress: string, plan: RestartPlan, entry: string[]): Promise<RestartRun> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-bench-restart-'));
  const taskQueue = `bench-restart-${randomUUID()}`;
  const shown = progress(`${phase}: node ${entry.join(' ')}`, plan.restarts + 1, 'starts');
  try {
    const first = await startOnce(temporalAddress, taskQueue, dataDir, plan.readyTimeoutMs, REPO_ROOT, entry);
    shown.tick();
    const restarts: RestartSample[] = [];
    for (let index = 0; index < plan.restarts; index++) {
      restarts.push(await startOnce(temporalAddress, taskQueue, dataDir, plan.readyTimeoutMs, REPO_ROOT, entry));
      shown.tick();
    }
    shown.done();
    return { command: entry.join(' '), first, restarts };
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

/** `npm run build` in the checkout (dist/ is git-ignored); the reason it failed, or undefined. */
async function build(): Promise<string | undefined> {
  const child = spawn('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
  child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return code === 0 ? undefined : `npm run build exited with ${code}: ${output.trim().slice(-300)}`;
}

/** Restarts as `npm start` runs the service, and, when asked, as the built image runs it. */
export async function runRestarts(phase: string, temporalAddress: string, plan: RestartPlan): Promise<RestartResult> {
  const runs = [await restartRun(phase, temporalAddress, plan, ['--import', 'tsx', 'src/main.ts'])];
  if (!plan.built) return { runs };
  say(`${phase}: npm run build, to restart the built service`);
  const builtSkipped = await build();
  if (builtSkipped) return { runs, builtSkipped };
  runs.push(await restartRun(phase, temporalAddress, plan, ['dist/main.js']));
  return { runs };
}

/** Target of issue 12: a restarted replica answers /readyz 200 within this long of its start. */
export const RESTART_READY_TARGET_MS = 1_500;

type Check = (name: string, target: string, measured: string, result: { met: boolean; text: string }) => string;

/** The restart rows, their target checks, and a note on where a start's time goes. */
export function restartRows(result: RestartResult, check: Check, rows: Row[], notes: string[]): void {
  for (const run of result.runs) {
    const times = run.restarts.map((restart) => restart.readyMs);
    const summary = times.length > 0 ? summarize(times) : undefined;
    const caches = run.restarts.map((restart) => restart.bundleCache ?? '?');
    const p50 = summary?.p50;
    const met = p50 !== undefined && p50 <= RESTART_READY_TARGET_MS;
    rows.push({
      scenario: 'restart to /readyz 200, Temporal server up',
      system: `service: node ${run.command}`,
      p50,
      p99: summary?.p99,
      throughput: `${times.length} restarts (bundle cache: ${[...new Set(caches)].join(', ')}); first start ${formatMs(run.first.readyMs)} (${run.first.bundleCache ?? '?'})`,
      target: `p50 ≤ ${formatMs(RESTART_READY_TARGET_MS)}`,
      met: check(`restart to /readyz 200 p50 (node ${run.command})`, `≤ ${formatMs(RESTART_READY_TARGET_MS)}`, formatMs(p50), {
        met,
        text: met ? 'yes' : p50 === undefined ? 'no: not measured' : `no: ${formatMs(p50)}, ${Math.round((p50 / RESTART_READY_TARGET_MS - 1) * 100)}% over`,
      }),
    });
    const steps = run.restarts.flatMap((restart) => (restart.startup ? [restart.startup] : []));
    if (steps.length > 0) {
      const names = Object.keys(steps[0]!);
      const means = names.map((name) => `${name} ${mean(steps.map((step) => step[name] ?? NaN)).toFixed(0)}`);
      notes.push(
        `restart (node ${run.command}): where a start's time goes, mean ms since the process started, over ${steps.length} restarts: ${means.join(', ')} ` +
          '(modulesLoaded: Node and every import; the worker is created while the HTTP app is built; the replica accepts connections once the app is built, and /readyz answers 200 once the worker runs too)',
      );
    }
  }
  if (result.builtSkipped) notes.push(`restart of the built service not measured: ${result.builtSkipped}`);
}
