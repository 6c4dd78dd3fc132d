import { CONNECTION_HELP, clientFromOptions, expectPositionals, parseCommandLine } from '../args.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const STATUS_USAGE = `Usage: permit status <token> [options]

The fencing check: exits 0 and prints the permit while it is held, exits 76 once it has ended
(released or expired) or when it is unknown.
  permit status "$TOKEN" >/dev/null || { echo "lost the lock"; exit 1; }

Options:
  --json             print the whole permit as JSON

${CONNECTION_HELP}`;

/** `permit status`: 0 while held, 76 when ended. */
export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('status', argv, { json: { type: 'boolean' } });
  if (values.help) {
    io.out(`${STATUS_USAGE}\n`);
    return EXIT.ok;
  }
  const [token] = expectPositionals('status', positionals, ['token']);
  const permit = await clientFromOptions(values, io.env).status(token!);
  io.out(
    values.json
      ? `${JSON.stringify(permit)}\n`
      : `held: ${permit.resource} slot ${permit.slot} of ${permit.capacity}, lease ends ${permit.expiresAt}` +
          `${permit.holder ? `, holder ${permit.holder}` : ''}\n`,
  );
  return EXIT.ok;
}
