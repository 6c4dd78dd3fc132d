import fs from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

/** What the command under `permit run` does. */
export interface ChildBehaviour {
  /** Exit with this code after holdMs (default 0). */
  exitCode?: number;
  /** How long to run before exiting on its own; default 60 s, so a child orphaned by a failed test still ends. */
  holdMs?: number;
  /** On SIGTERM/SIGINT/SIGHUP: 'exit' with signalExitCode, 'ignore' it, or (unset) die from it. */
  onSignal?: 'exit' | 'ignore';
  signalExitCode?: number;
}

export interface JournalEntry {
  event: 'started' | 'signal' | 'exit';
  at: number;
  pid: number;
  env?: Record<string, string>;
  signal?: string;
  code?: number;
}

// A real process, run by node, that writes what happens to it to a journal file (one JSON line per event).
const SCRIPT = `
const fs = require('node:fs');
const [journal, spec] = process.argv.slice(1);
const behaviour = JSON.parse(spec);
const note = (event, extra) => fs.appendFileSync(journal, JSON.stringify({ event, at: Date.now(), pid: process.pid, ...extra }) + '\\n');
// Handlers first: a test signals as soon as it reads "started".
if (behaviour.onSignal) {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => {
      note('signal', { signal });
      if (behaviour.onSignal === 'exit') {
        note('exit', { code: behaviour.signalExitCode ?? 0 });
        process.exit(behaviour.signalExitCode ?? 0);
      }
    });
  }
}
const env = {};
for (const name of ['PERMIT_RUN_ID', 'PERMIT_FENCING_TOKEN', 'PERMIT_FENCING_SEQ', 'PERMIT_SLOT', 'PERMIT_RESOURCE', 'PERMIT_URL']) env[name] = process.env[name];
note('started', { env });
setTimeout(() => {
  note('exit', { code: behaviour.exitCode ?? 0 });
  process.exit(behaviour.exitCode ?? 0);
}, behaviour.holdMs ?? 60000);
`;

/** The command line (after `--`) of a child that journals its start, its signals and its exit. */
export function childCommand(journal: string, behaviour: ChildBehaviour = {}): string[] {
  return [process.execPath, '-e', SCRIPT, journal, JSON.stringify(behaviour)];
}

/** The journal so far (empty when the child has not started). */
export async function readJournal(journal: string): Promise<JournalEntry[]> {
  let text: string;
  try {
    text = await fs.readFile(journal, 'utf8');
  } catch {
    return [];
  }
  // Only whole lines: the child may be halfway through writing the last one.
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as JournalEntry);
}

/** Waits until the journal has an entry the predicate accepts. */
export async function waitForJournal(
  journal: string,
  predicate: (entry: JournalEntry) => boolean,
  timeoutMs = 30_000,
): Promise<JournalEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readJournal(journal)).find(predicate);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such journal entry within ${timeoutMs} ms: ${JSON.stringify(await readJournal(journal))}`);
    await delay(50);
  }
}
