import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT } from './process.js';
import { spawnWatched, type ProcessResult, type WatchedProcess } from './watched-process.js';

/** The CLI as the repository runs it (`npx tsx packages/client/src/cli/main.ts`), without the extra tsx launcher process. */
const CLI_ENTRY = path.join(REPO_ROOT, 'packages', 'client', 'src', 'cli', 'main.ts');

/** Spawns `permit <args>` as a real process; it is killed after the test if it is still running. */
export function spawnCli(t: TestContext, args: string[], env: Record<string, string> = {}): WatchedProcess {
  return spawnWatched(t, process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { env });
}

/** Runs `permit <args>` to its end (bounded), for commands that do not need to be signalled. */
export function runCli(t: TestContext, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ProcessResult> {
  return spawnCli(t, args, env).finished(timeoutMs);
}

/** A temporary directory for journals and markers, removed after the test. */
export async function scratchDir(t: TestContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'permit-cli-test-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}
