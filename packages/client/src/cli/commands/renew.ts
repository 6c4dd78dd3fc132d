import { CONNECTION_HELP, clientFromOptions, durationOption, expectPositionals, parseCommandLine } from '../args.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const RENEW_USAGE = `Usage: permit renew <token> [options]

Extends the lease to now + --lease and prints the new end of the lease (ISO-8601) on stdout.
Exits 76 when the permit has ended, is unknown, or may not be renewed any more (the service's
maximum hold time, or the most renewals one permit may have).

Options:
  --lease DURATION   the new lease length (default: the length it was acquired with)
  --json             print the whole permit as JSON

${CONNECTION_HELP}`;

/** `permit renew`: extends the lease. */
export async function renewCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('renew', argv, { lease: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(`${RENEW_USAGE}\n`);
    return EXIT.ok;
  }
  const [token] = expectPositionals('renew', positionals, ['token']);
  const leaseMs = typeof values.lease === 'string' ? durationOption(values, 'lease', 0, { minMs: 1_000 }) : undefined;
  const permit = await clientFromOptions(values, io.env).renew(token!, { leaseMs });
  io.out(values.json ? `${JSON.stringify(permit)}\n` : `${permit.expiresAt}\n`);
  return EXIT.ok;
}
