import type { ResourceView } from '../../client/types.js';
import { UNPRINTABLE } from '../../wire/schemas.js';
import { CONNECTION_HELP, clientFromOptions, expectPositionals, parseCommandLine, positiveIntegerOption } from '../args.js';
import { formatDuration } from '../duration.js';
import { EXIT } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const HOLDERS_USAGE = `Usage: permit holders <resource> [options]

Lists the permits held on the resource: slot, token, time left on the lease, holder. A token shows
only for permits your key holds (all of them for an admin key); the others show "-".

Options:
  --capacity N       the capacity to inspect, for a resource without a configured one
                     (up to 64 reads every slot directly; otherwise the list may lag a moment)
  --json             print the service's answer as JSON

${CONNECTION_HELP}`;

/** Holders set before the service refused control characters could still carry some: never print them raw to a terminal. */
function printable(text: string): string {
  return text.replace(new RegExp(UNPRINTABLE.source, 'g'), '?');
}

function table(view: ResourceView, now: number): string {
  const heading = `${view.resource}: ${view.held.length} of ${view.capacity} slot(s) held` +
    `${view.consistency === 'eventual' ? ' (from Temporal visibility; may lag a moment)' : ''}\n`;
  if (view.held.length === 0) return heading;
  const rows = [
    ['SLOT', 'TOKEN', 'LEFT', 'HOLDER'],
    ...view.held.map((permit) => [
      String(permit.slot),
      permit.fencingToken ?? '-',
      formatDuration(Math.max(0, Date.parse(permit.expiresAt) - now)),
      printable(permit.holder ?? ''),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return heading + rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** `permit holders`: who holds the resource. */
export async function holdersCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('holders', argv, { capacity: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.out(`${HOLDERS_USAGE}\n`);
    return EXIT.ok;
  }
  const [resource] = expectPositionals('holders', positionals, ['resource']);
  const view = await clientFromOptions(values, io.env).holders(resource!, { capacity: positiveIntegerOption(values, 'capacity') });
  io.out(values.json ? `${JSON.stringify(view)}\n` : table(view, Date.now()));
  return EXIT.ok;
}
