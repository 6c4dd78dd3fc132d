import os from 'node:os';
import path from 'node:path';
import { CONNECTION_HELP, clientFromOptions, durationOption, parseCommandLine } from '../args.js';
import { EXIT, UsageError } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { runUnderPermit } from '../run-supervisor.js';
import { ACQUIRE_HELP, ACQUIRE_OPTIONS, acquireSettings } from './acquire-options.js';

const DEFAULT_KILL_GRACE_MS = 10_000;

export const RUN_USAGE = `Usage: permit run <resource> [options] -- <command> [args...]

Holds a permit on <resource> while <command> runs, like "flock", "consul lock" or "etcdctl lock":
acquires it (waiting up to --wait), starts the command with the permit in its environment,
renews the lease every third of its length, and releases it when the command exits.
Exits with the command's exit code, or 128+N when signal N killed the command.

The command's environment has PERMIT_RUN_ID and PERMIT_FENCING_TOKEN (both the token),
PERMIT_FENCING_SEQ (the fencing number, larger for every later grant of the slot),
PERMIT_SLOT, PERMIT_RESOURCE and PERMIT_URL.

Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGUSR2 are passed on to the command (to its
process only: a shell script should "exec" its last command); permit waits for it to exit,
releases, and exits with its code. A signal while waiting for the permit stops the wait; nothing
is held and permit exits 128+N.

Lost permit: when the service says the permit has ended, when renewals keep failing until the
lease would run out, or when the service refuses further renewals (maximum hold time, most
renewals one permit may have, or the API key: 401/403) and the lease is about to run out, the
command gets SIGTERM, then SIGKILL after --kill-grace, and permit exits 76 (77 when it was the
key that was refused).

Options:
${ACQUIRE_HELP}
                     (default for run: "<host> pid <pid>: <command name>")
  --kill-grace DURATION
                     after SIGTERM to a command whose permit was lost, how long until SIGKILL
                     (default 10s)
  -v, --verbose      report the wait, the permit, each renewal and the release on stderr

${CONNECTION_HELP}`;

/** `permit run`: parses the command line and hands it to the supervisor. */
export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals, rest } = parseCommandLine('run', argv, {
    ...ACQUIRE_OPTIONS,
    'kill-grace': { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
  });
  if (values.help) {
    io.out(`${RUN_USAGE}\n`);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('run: missing <resource>; usage: permit run <resource> [options] -- <command> [args...]');
  if (positionals.length > 1 || rest === undefined) {
    throw new UsageError(
      `run: the command goes after "--": permit run ${positionals[0]} [options] -- ${positionals.slice(1).join(' ') || '<command> [args...]'}`,
    );
  }
  const [command, ...args] = rest;
  if (!command) throw new UsageError('run: missing the command after "--"');
  const settings = acquireSettings(values);
  const killGraceMs = durationOption(values, 'kill-grace', DEFAULT_KILL_GRACE_MS);
  const client = clientFromOptions(values, io.env);
  return runUnderPermit({
    client,
    resource: positionals[0]!,
    acquire: { ...settings, holder: settings.holder ?? `${os.hostname()} pid ${process.pid}: ${path.basename(command)}`.slice(0, 256) },
    command,
    args,
    killGraceMs,
    verbose: values.verbose === true,
    io,
  });
}
