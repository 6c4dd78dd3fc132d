// Everything the benchmark starts (Temporal dev server, the service, Redis, etcd, temp dirs) is
// registered here, so a normal end, a failure and a Ctrl-C all stop it in reverse order.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { say } from './progress.js';

interface Cleanup {
  name: string;
  run: () => Promise<unknown>;
}

const cleanups: Cleanup[] = [];
/** Process groups still running, killed synchronously if the process exits before the cleanups finish. */
const groups = new Set<number>();
let running: Promise<void> | undefined;

/** Registers work to undo at the end; the last registered runs first. */
export function onCleanup(name: string, run: () => Promise<unknown>): void {
  cleanups.push({ name, run });
}

/** Remembers a detached child (the leader of its own process group) so that even an abrupt exit kills it. */
export function trackChild(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  groups.add(pid);
  child.once('exit', () => groups.delete(pid));
}

export interface TrackedChild {
  child: ChildProcess;
  /** Settles once the process has exited and its output has been read. */
  closed: Promise<void>;
  /** The last `tailChars` characters it wrote to stdout and stderr, for error messages. */
  output(): string;
}

/**
 * Spawns a process as the leader of its own process group (so Ctrl-C reaches the benchmark, which
 * stops it in order), tracks it for cleanup, and keeps the tail of its output.
 */
export function spawnTracked(command: string, args: string[], options: SpawnOptions, tailChars: number): TrackedChild {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-tailChars);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, closed, output: () => output };
}

/** SIGKILL of a tracked process's whole group (a replica and whatever it started), settled once it has closed. */
export async function killGroup(tracked: TrackedChild | undefined): Promise<void> {
  if (!tracked?.child.pid) return;
  process.kill(-tracked.child.pid, 'SIGKILL');
  await tracked.closed;
}

/** The same for a process group started elsewhere (the dev server's), given its leader; forget() when it has stopped. */
export function trackGroup(pid: number): { forget(): void } {
  groups.add(pid);
  return { forget: () => groups.delete(pid) };
}

/** Runs every registered cleanup once, newest first; a failing one is reported and the rest still run. */
export function runCleanups(): Promise<void> {
  running ??= (async () => {
    while (cleanups.length > 0) {
      const cleanup = cleanups.pop()!;
      try {
        await cleanup.run();
      } catch (error) {
        say(`cleanup "${cleanup.name}" failed: ${(error as Error).message}`);
      }
    }
  })();
  return running;
}

/** Ctrl-C and SIGTERM stop everything the benchmark started before the process ends. */
export function installSignalHandlers(): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // Not once(): a Ctrl-C reaches us both from the terminal and relayed by the npm/tsx launchers,
    // and a second signal must not end the process (by default) in the middle of the cleanups.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      say(`${signal}: stopping everything this run started`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
  // Last resort when the cleanups could not finish: no child outlives us.
  process.once('exit', () => {
    for (const pid of groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}
