import os from 'node:os';
import { CONNECTION_HELP, clientFromOptions, expectPositionals, parseCommandLine } from '../args.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { exitCodeForSignal } from '../exit-codes.js';
import { onSignals } from '../signals.js';
import { ACQUIRE_HELP, ACQUIRE_OPTIONS, acquireSettings } from './acquire-options.js';

export const ACQUIRE_USAGE = `Usage: permit acquire <resource> [options]

Acquires a permit and prints its token on stdout, for scripts that hold it themselves:
  TOKEN=$(permit acquire db --lease 5m) || exit
  ...; permit renew "$TOKEN"; ...
  permit release "$TOKEN"
Nothing renews it: renew before the lease ends, release when done.

Options:
${ACQUIRE_HELP}
  --json             print the whole permit as JSON instead of the token

${CONNECTION_HELP}`;

/** `permit acquire`: prints the token (or the permit as JSON). */
export async function acquireCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('acquire', argv, { ...ACQUIRE_OPTIONS, json: { type: 'boolean' } });
  if (values.help) {
    io.out(`${ACQUIRE_USAGE}\n`);
    return EXIT.ok;
  }
  const [resource] = expectPositionals('acquire', positionals, ['resource']);
  const settings = acquireSettings(values);
  const client = clientFromOptions(values, io.env);

  // Interrupted while waiting: stop waiting; a permit granted in that moment is released, not left to its lease.
  const interrupt = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  const stopCatching = onSignals((signal) => {
    interruptedBy ??= signal;
    interrupt.abort(new Error(`interrupted by ${signal}`));
  });
  try {
    const permit = await client.acquire(resource!, {
      ...settings,
      holder: settings.holder ?? `${os.hostname()} (permit acquire)`,
      signal: interrupt.signal,
    });
    io.out(values.json ? `${JSON.stringify(permit)}\n` : `${permit.fencingToken}\n`);
    return EXIT.ok;
  } catch (error) {
    if (!interruptedBy) throw error;
    io.say(`interrupted by ${interruptedBy} while waiting for "${resource}"; no permit is held`);
    return exitCodeForSignal(interruptedBy);
  } finally {
    stopCatching();
  }
}
