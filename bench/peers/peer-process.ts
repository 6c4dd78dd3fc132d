// Starts a peer's server as a child process on loopback, waits until it answers, and always stops
// it at the end. A peer that cannot start is skipped with its reason, never fatal to the run.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { onCleanup, spawnTracked } from '../cleanup.js';

const READY_TIMEOUT_MS = 20_000;
/** One readiness probe may take this long; a probe that hangs must not stop the start-up deadline. */
const PROBE_TIMEOUT_MS = 1_000;
const STOP_GRACE_MS = 5_000;

export interface PeerProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A peer that was not measured, and why. */
export class PeerSkipped extends Error {}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binary's full path on PATH, or undefined. */
export async function findBinary(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Spawns binary (a name looked up on PATH, or a path) with args and resolves once ready() returns
 * true; throws PeerSkipped otherwise.
 */
export async function startPeerProcess(binary: string, args: string[], ready: () => Promise<boolean>, options: SpawnOptions = {}): Promise<PeerProcess> {
  const found = binary.includes(path.sep) ? ((await isExecutable(binary)) ? binary : undefined) : await findBinary(binary);
  if (!found) throw new PeerSkipped(`${binary} is not ${binary.includes(path.sep) ? 'there' : 'on PATH'} (npm run bench:peers installs it)`);
  const { child, closed, output: tail } = spawnTracked(found, args, options, 2_000);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await closed;
    clearTimeout(timer);
  };
  onCleanup(`stop ${binary}`, stop);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw new PeerSkipped(`${binary} could not be started: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new PeerSkipped(`${binary} exited during start-up (${child.exitCode ?? child.signalCode}): ${lastLine(tail())}`);
    }
    try {
      if (await withTimeout(ready(), PROBE_TIMEOUT_MS)) return { child, stop };
    } catch {
      // not answering yet
    }
    await delay(100);
  }
  await stop();
  throw new PeerSkipped(`${binary} did not answer within ${READY_TIMEOUT_MS} ms: ${lastLine(tail())}`);
}

/** The promise's value, or false once timeoutMs has passed; the timer never outlives the race. */
async function withTimeout(promise: Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

function lastLine(output: string): string {
  return output.trim().split('\n').at(-1)?.slice(0, 300) ?? '';
}
