import fs from 'node:fs';
import { acquireCommand } from './commands/acquire.js';
import { historyCommand } from './commands/history.js';
import { holdersCommand } from './commands/holders.js';
import { keygenCommand } from './commands/keygen.js';
import { releaseCommand } from './commands/release.js';
import { renewCommand } from './commands/renew.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { EXIT, UsageError, exitCodeForError } from './exit-codes.js';
import { MAIN_USAGE } from './help.js';
import { describeError, type CliIo } from './io.js';

const COMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {
  run: runCommand,
  acquire: acquireCommand,
  release: releaseCommand,
  renew: renewCommand,
  status: statusCommand,
  holders: holdersCommand,
  keygen: keygenCommand,
  history: historyCommand,
};

/** The package version, read from package.json one level above src/ or dist/. */
function version(): string {
  const text = fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** Runs one command line and returns the exit code; every failure becomes a message and a documented code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      if (topic && COMMANDS[topic]) return await COMMANDS[topic]!(['--help'], io);
      (name === undefined ? io.err : io.out)(`${MAIN_USAGE}\n`);
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    if (name === '--version' || name === '-V') {
      io.out(`${version()}\n`);
      return EXIT.ok;
    }
    const command = COMMANDS[name];
    if (!command) {
      throw new UsageError(
        name.startsWith('-')
          ? `the command comes first: permit <command> [options]; commands: ${Object.keys(COMMANDS).join(', ')}`
          : `unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}`,
      );
    }
    return await command(rest, io);
  } catch (error) {
    const code = exitCodeForError(error);
    if (code === EXIT.software) {
      io.say(`internal error (a bug in permit; please report it): ${describeError(error)}`);
    } else {
      const help = name !== undefined && COMMANDS[name] ? `permit ${name} --help` : 'permit --help';
      io.say(describeError(error) + (error instanceof UsageError ? `; see ${help}` : ''));
    }
    return code;
  }
}
