import { CONNECTION_HELP, clientFromOptions, expectPositionals, parseCommandLine } from '../args.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const RELEASE_USAGE = `Usage: permit release <token> [options]

Releases the permit; its slot is free for the next acquire at once. Exits 76 when the permit had
already ended (released or expired) or is unknown; add "|| true" where that is fine.

${CONNECTION_HELP}`;

/** `permit release`: ends the permit. */
export async function releaseCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('release', argv, {});
  if (values.help) {
    io.out(`${RELEASE_USAGE}\n`);
    return EXIT.ok;
  }
  const [token] = expectPositionals('release', positionals, ['token']);
  await clientFromOptions(values, io.env).release(token!);
  return EXIT.ok;
}
