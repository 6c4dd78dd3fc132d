import type { HistoryPage } from '../../client/types.js';
import { CONNECTION_HELP, clientFromOptions, expectPositionals, parseCommandLine, positiveIntegerOption } from '../args.js';
import { formatDuration } from '../duration.js';
import { EXIT, UsageError } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const HISTORY_USAGE = `Usage: permit history <resource> [options]

Lists the past permits of the resource, newest first: when each ended, slot, holder,
how long it was held, renewals, how it ended (released, expired, force_released,
max_hold, terminated) and its token. From Temporal visibility: a permit that just
ended shows a moment later; closed runs are kept for the Temporal namespace's retention.

Options:
  --limit N          permits to list, 1..100 (default 20)
  --before TIME      only permits that ended before TIME (the "older" line of the
                     previous page, or any time such as 2026-12-01T17:00:00Z)
  --json             print the service's answer as JSON

${CONNECTION_HELP}`;

function table(page: HistoryPage): string {
  if (page.entries.length === 0) return `${page.resource}: no past permits${page.nextBefore ? ' on this page' : ''}\n`;
  const rows = [
    ['ENDED', 'SLOT', 'HOLDER', 'HELD', 'RENEWALS', 'OUTCOME', 'TOKEN'],
    ...page.entries.map((entry) => [
      entry.endedAt,
      String(entry.slot),
      entry.holder ?? '',
      formatDuration(entry.heldMs),
      String(entry.renewals),
      entry.outcome,
      entry.runId,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
  const older = page.nextBefore ? `older: permit history ${page.resource} --before ${page.nextBefore}\n` : '';
  return `${lines.join('\n')}\n${older}`;
}

/** `permit history`: the past permits of a resource. */
export async function historyCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('history', argv, {
    limit: { type: 'string' },
    before: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(`${HISTORY_USAGE}\n`);
    return EXIT.ok;
  }
  const [resource] = expectPositionals('history', positionals, ['resource']);
  const limit = positiveIntegerOption(values, 'limit');
  if (limit !== undefined && limit > 100) throw new UsageError(`--limit: "${limit}" is more than 100`);
  const before = typeof values.before === 'string' ? values.before : undefined;
  const page = await clientFromOptions(values, io.env).history(resource!, { limit, before });
  io.out(values.json ? `${JSON.stringify(page)}\n` : table(page));
  return EXIT.ok;
}
