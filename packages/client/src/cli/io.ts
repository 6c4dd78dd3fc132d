import { LockServiceError } from '../client/errors.js';
import { formatDuration } from './duration.js';

/** Where the CLI writes: results to stdout (for scripts to read), everything else to stderr. */
export interface CliIo {
  /** A result, written as is. */
  out(text: string): void;
  /** A message for people, prefixed with "permit: ". */
  say(text: string): void;
  /** Text for people written as is (usage shown after a mistake). */
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

/** The process's own stdout, stderr and environment. */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    say: (text) => process.stderr.write(`permit: ${text}\n`),
    err: (text) => process.stderr.write(text),
    env: process.env,
  };
}

/** One line for any failure, in words: the service's message with its code, never a stack trace. */
export function describeError(error: unknown): string {
  if (error instanceof LockServiceError) {
    const retry = error.retryAfterSeconds === undefined ? '' : ` (retry after ${formatDuration(error.retryAfterSeconds * 1000)})`;
    return `${error.code}: ${error.message}${retry}`;
  }
  return error instanceof Error ? error.message : String(error);
}
