import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { REPO_ROOT } from './process.js';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface WatchedProcess {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<ProcessResult>;
  /** Resolves once stdout matches; rejects if the process exits first or the time runs out. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The same for stderr. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The result once it exits; rejects (the process is killed after the test) when it takes longer. */
  finished(timeoutMs?: number): Promise<ProcessResult>;
}

/** The test's environment without PERMIT_* and node:test's own variables, plus `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(base)) {
    if (name.startsWith('PERMIT_') || name.startsWith('NODE_TEST')) delete base[name];
  }
  return { ...base, ...env };
}

/** Spawns a real process whose output the test can watch; killed after the test if it still runs. */
export function spawnWatched(
  t: TestContext,
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): WatchedProcess {
  const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env: cleanEnv(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let done = false;
  const exited = new Promise<ProcessResult>((resolve) => {
    // 'close': every byte the process (and whatever it ran) wrote has been read.
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  t.after(() => {
    if (!done) child.kill('SIGKILL');
  });
  const describe = () => `${command} ${args.join(' ').slice(0, 200)}\nstdout:\n${stdout}\nstderr:\n${stderr}`;
  const waitFor = (read: () => string, name: string) => async (pattern: RegExp, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(read())) {
      if (done) throw new Error(`exited before ${name} matched ${pattern}: ${describe()}`);
      if (Date.now() > deadline) throw new Error(`${name} did not match ${pattern} within ${timeoutMs} ms: ${describe()}`);
      await delay(50);
    }
  };
  const finished = async (timeoutMs = 60_000) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not exit within ${timeoutMs} ms: ${describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([exited, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    child,
    pid: child.pid,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStdout: waitFor(() => stdout, 'stdout'),
    waitForStderr: waitFor(() => stderr, 'stderr'),
    finished,
  };
}
