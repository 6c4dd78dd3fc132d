import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { REPO_ROOT } from './process.js';

/** The CLI as the repository runs it (`npx tsx src/cli/main.ts`), without the extra tsx launcher process. */
const CLI_ENTRY = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliResult>;
  /** Resolves once stderr matches; rejects if the CLI exits first or the time runs out. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** The environment a CLI runs with: the test's, without PERMIT_* and node:test's own variables. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(base)) {
    if (name.startsWith('PERMIT_') || name.startsWith('NODE_TEST')) delete base[name];
  }
  return { ...base, ...env };
}

/** Spawns `permit <args>` as a real process; it is killed after the test if it is still running. */
export function spawnCli(t: TestContext, args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not spawn the CLI');
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let done = false;
  const exited = new Promise<CliResult>((resolve) => {
    // 'close': every byte the CLI (and the command it ran) wrote has been read.
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  t.after(() => {
    if (!done) child.kill('SIGKILL');
  });
  const waitForStderr = async (pattern: RegExp, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(stderr)) {
      if (done) throw new Error(`the CLI exited before stderr matched ${pattern}\nstderr:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`stderr did not match ${pattern} within ${timeoutMs} ms\nstderr:\n${stderr}`);
      await delay(50);
    }
  };
  return { child, pid: child.pid, stdout: () => stdout, stderr: () => stderr, exited, waitForStderr };
}

/** Runs `permit <args>` to its end (bounded), for commands that do not need to be signalled. */
export async function runCli(t: TestContext, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  const cli = spawnCli(t, args, env);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`permit ${args.join(' ')} did not exit within ${timeoutMs} ms\nstderr:\n${cli.stderr()}`)), timeoutMs);
  });
  try {
    return await Promise.race([cli.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A temporary directory for journals and markers, removed after the test. */
export async function scratchDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'permit-cli-test-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}
