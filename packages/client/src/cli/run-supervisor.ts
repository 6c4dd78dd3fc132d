import { spawn, type ChildProcess } from 'node:child_process';
import type { LockClient } from '../client/lock-client.js';
import { PermitKeeper, type PermitKeeperEvent } from '../client/permit-keeper.js';
import { releaseBestEffort } from '../client/release-best-effort.js';
import type { Permit } from '../client/types.js';
import { formatDuration } from './duration.js';
import { EXIT, exitCodeForError, exitCodeForSignal } from './exit-codes.js';
import { describeError, type CliIo } from './io.js';
import { onSignals } from './signals.js';
import type { AcquireSettings } from './commands/acquire-options.js';

export interface RunPlan {
  client: LockClient;
  resource: string;
  acquire: AcquireSettings & { holder: string };
  command: string;
  args: string[];
  /** After SIGTERM to a command whose permit was lost, how long until SIGKILL. */
  killGraceMs: number;
  verbose: boolean;
  io: CliIo;
}

type CommandEnd = { code: number | null; signal: NodeJS.Signals | null } | { spawnError: NodeJS.ErrnoException };

/** The environment the command runs with: ours plus the permit. */
function commandEnv(env: NodeJS.ProcessEnv, permit: Permit, url: string): NodeJS.ProcessEnv {
  return {
    ...env,
    PERMIT_RUN_ID: permit.runId,
    PERMIT_FENCING_TOKEN: permit.fencingToken,
    PERMIT_FENCING_SEQ: permit.fencingSeq,
    PERMIT_SLOT: String(permit.slot),
    PERMIT_RESOURCE: permit.resource,
    PERMIT_URL: url,
  };
}

function startCommand(plan: RunPlan, permit: Permit): { child: ChildProcess; ended: Promise<CommandEnd> } {
  const child = spawn(plan.command, plan.args, { stdio: 'inherit', env: commandEnv(plan.io.env, permit, plan.client.url) });
  const ended = new Promise<CommandEnd>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // Only a failure to start ends the command; a later 'error' (a failed kill) does not.
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ spawnError: error });
    });
  });
  return { child, ended };
}

function keeperReporter(plan: RunPlan): (event: PermitKeeperEvent) => void {
  return (event) => {
    switch (event.type) {
      case 'renewed':
        if (plan.verbose) plan.io.say(`renewed; the lease ends ${event.permit.expiresAt}`);
        break;
      case 'renew_failed':
        plan.io.say(`renewal failed (${describeError(event.error)}); retrying in ${formatDuration(event.retryInMs)}`);
        break;
      case 'renewal_refused':
        plan.io.say(`renewal refused (${describeError(event.error)}); the permit is lost when its lease runs out`);
        break;
      case 'lost':
        break; // reported where the command is stopped
    }
  };
}

/**
 * `permit run`: acquire, run the command with the permit in its environment while renewing it,
 * pass signals on, release when the command ends, and answer with the command's exit code (or, when
 * the permit was lost, after stopping the command: EXIT.lost, or EXIT.noPermission when the loss came
 * from a refused key).
 */
export async function runUnderPermit(plan: RunPlan): Promise<number> {
  const { client, resource, io } = plan;
  let phase: 'acquiring' | 'running' | 'finishing' = 'acquiring';
  const acquiring = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  let child: ChildProcess | undefined;
  // Caught from the start, so no signal can end this process while it holds (or is being granted) a slot.
  const stopCatching = onSignals((signal) => {
    if (phase === 'acquiring') {
      interruptedBy ??= signal;
      acquiring.abort(new Error(`interrupted by ${signal}`));
    } else if (phase === 'running') {
      if (plan.verbose) io.say(`passing ${signal} on to the command`);
      child?.kill(signal);
    }
    // While finishing, the release goes on; the signal has nothing left to stop.
  });

  try {
    if (plan.verbose) {
      const wait = plan.acquire.waitMs === Infinity ? 'as long as it takes' : `up to ${formatDuration(plan.acquire.waitMs)}`;
      io.say(`acquiring "${resource}" from ${client.url}, waiting ${wait}`);
    }
    let permit: Permit;
    try {
      permit = await client.acquire(resource, { ...plan.acquire, signal: acquiring.signal });
    } catch (error) {
      if (!interruptedBy) throw error;
      io.say(`interrupted by ${interruptedBy} while waiting for "${resource}"; no permit is held`);
      return exitCodeForSignal(interruptedBy);
    }
    if (interruptedBy) {
      // The signal came as the permit arrived: the command has not started, so it never will.
      phase = 'finishing';
      await releaseBestEffort(client, permit.runId);
      io.say(`interrupted by ${interruptedBy}; released the permit without running the command`);
      return exitCodeForSignal(interruptedBy);
    }
    if (plan.verbose) {
      io.say(`acquired "${resource}" slot ${permit.slot} of ${permit.capacity}, token ${permit.fencingToken}, lease ${formatDuration(permit.leaseMs)}`);
    }

    const keeper = new PermitKeeper(client, permit, { onEvent: keeperReporter(plan) });
    keeper.start();
    phase = 'running';
    const started = startCommand(plan, permit);
    child = started.child;

    let killTimer: NodeJS.Timeout | undefined;
    keeper.lost.addEventListener('abort', () => {
      io.say(
        `${describeError(keeper.lost.reason)}; stopping the command with SIGTERM (SIGKILL after ${formatDuration(plan.killGraceMs)})`,
      );
      child?.kill('SIGTERM');
      killTimer = setTimeout(() => {
        io.say(`the command did not stop within ${formatDuration(plan.killGraceMs)}; sending SIGKILL`);
        child?.kill('SIGKILL');
      }, plan.killGraceMs);
    });

    const end = await started.ended;
    phase = 'finishing';
    clearTimeout(killTimer);
    await keeper.stop();
    const released = await releaseBestEffort(client, permit.runId);
    if (released.outcome === 'failed') {
      io.say(
        `could not release permit ${permit.runId} (${describeError(released.error)}); ` +
          `its slot stays taken until the lease runs out, at about ${new Date(keeper.heldUntil).toISOString()}`,
      );
    } else if (plan.verbose) {
      io.say(released.outcome === 'released' ? 'released' : `the permit had already ended (${describeError(released.error)})`);
    }

    if ('spawnError' in end) {
      const notFound = end.spawnError.code === 'ENOENT';
      io.say(`cannot run ${plan.command}: ${notFound ? 'command not found' : end.spawnError.message}`);
      return notFound ? EXIT.commandNotFound : EXIT.cannotExecute;
    }
    if (keeper.lost.aborted) return exitCodeForError(keeper.lost.reason);
    if (end.signal) return exitCodeForSignal(end.signal);
    return end.code ?? EXIT.software;
  } finally {
    stopCatching();
  }
}
