import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * A POSIX sh supervisor. Its standard input is a pipe from the service, and end of file on it means
 * "stop the program": the service closes the pipe to stop it, and the kernel closes it when the
 * service dies, however it dies (SIGKILL included), so the program never outlives the service.
 * Stopping is SIGTERM, then SIGKILL after $1 seconds. SIGTERM, SIGINT or SIGHUP sent to the
 * supervisor itself are passed to the program. It reports the program's pid on fd 3, reaps the
 * program and exits with its status, so its own exit means the program is gone.
 *
 * sh cannot wait for "the program exits or the pipe closes" in one step, so a background watcher
 * reads the pipe. It reads with the `read` builtin, not `cat`, so killing the watcher leaves no
 * reader behind; a background list's stdin is /dev/null, hence the pipe travels on fd 4.
 */
const SUPERVISOR_SCRIPT = `
grace=$1
shift
exec 4<&0 </dev/null
"$@" 3>&- 4<&- &
program=$!
trap 'kill -TERM "$program" 2>/dev/null' TERM INT HUP
echo "$program" >&3
exec 3>&-
{
  while read -r _; do :; done
  kill -TERM "$program"
  sleep "$grace"
  kill -KILL "$program"
} <&4 4<&- >/dev/null 2>&1 &
watcher=$!
exec 4<&-
while :; do
  wait "$program"
  status=$?
  kill -0 "$program" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null
exit "$status"
`;

/** How long past the program's grace the supervisor itself may take before it is killed with everything it runs. */
const SUPERVISOR_SLACK_MS = 5_000;

export interface SupervisedProcess {
  /** The supervisor; its stdout and stderr carry the program's. Its exit means the program has exited. */
  supervisor: ChildProcess;
  /** The supervisor's pid, which is also the id of the process group holding the supervisor and the program. */
  supervisorPid: number;
  /** The program's pid. */
  pid: number;
  /** Stops the program: SIGTERM, SIGKILL after the grace; resolves when the supervisor and the program are gone. */
  stop(): Promise<void>;
}

/** True while the process runs; a zombie (exited, not yet reaped by its parent) does not run. */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    // No /proc (not Linux): kill(pid, 0) is all there is to go on.
    return true;
  }
}

/** Polls until the process no longer runs; false if it still runs after timeoutMs. */
export async function waitUntilStopped(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processRunning(pid)) return true;
    await delay(50);
  }
  return !processRunning(pid);
}

function killGroup(groupId: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-groupId, signal);
  } catch {
    // the group is empty
  }
}

async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The line the supervisor writes on fd 3 once it has started the program: the program's pid. */
function readReportedPid(supervisor: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const channel = supervisor.stdio[3] as Readable;
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => (text += chunk));
    channel.once('close', () => {
      const pid = Number(text.trim());
      if (Number.isInteger(pid) && pid > 0) resolve(pid);
      else reject(new Error(`the process supervisor reported no pid (it wrote "${text.trim()}")`));
    });
    supervisor.once('error', reject);
  });
}

/**
 * Runs command under the sh supervisor above, in a process group of its own (a Ctrl-C in the terminal
 * reaches only the service, which stops the program when it is ready to). graceMs is the SIGTERM →
 * SIGKILL delay, in whole seconds at the supervisor.
 */
export async function spawnSupervised(command: string, args: string[], options: { graceMs: number }): Promise<SupervisedProcess> {
  const graceSeconds = Math.max(1, Math.ceil(options.graceMs / 1000));
  const supervisor = spawn('/bin/sh', ['-c', SUPERVISOR_SCRIPT, 'lock-service-supervisor', String(graceSeconds), command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  // Nothing is ever written; an error here only says the supervisor is gone, which stop() handles.
  supervisor.stdin?.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => {
    if (supervisor.exitCode !== null || supervisor.signalCode !== null) resolve();
    else supervisor.once('exit', () => resolve());
  });
  const supervisorPid = supervisor.pid;
  let pid: number;
  try {
    pid = await readReportedPid(supervisor);
  } catch (error) {
    if (supervisorPid !== undefined) killGroup(supervisorPid, 'SIGKILL');
    throw error;
  }
  if (supervisorPid === undefined) throw new Error('the process supervisor has no pid');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      supervisor.stdin?.destroy();
      if (supervisor.exitCode === null && supervisor.signalCode === null) {
        if ((await within(exited, graceSeconds * 1000 + SUPERVISOR_SLACK_MS)) === 'timeout') {
          killGroup(supervisorPid, 'SIGKILL');
          await within(exited, SUPERVISOR_SLACK_MS);
        }
      }
      // Someone killed the supervisor itself: its program may run on, orphaned, in the same group.
      if (processRunning(pid)) {
        killGroup(supervisorPid, 'SIGTERM');
        if (!(await waitUntilStopped(pid, graceSeconds * 1000))) killGroup(supervisorPid, 'SIGKILL');
      }
      // Whatever is left in the group, such as the watcher's escalation timer still sleeping.
      killGroup(supervisorPid, 'SIGKILL');
    })());
  return { supervisor, supervisorPid, pid, stop };
}
