import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LockClient } from '../client/lock-client.js';
import { DurationError, parseDuration } from './duration.js';
import { UsageError } from './exit-codes.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
const DEFAULT_TIMEOUT_MS = 10_000;

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | undefined>;

/** Options every command takes. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  'ca-file': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpecs;

export const CONNECTION_HELP = `Connection (every command):
  --url URL          the lock service (env PERMIT_URL; default ${DEFAULT_URL})
  --api-key KEY      the API key, sent as "authorization: Bearer KEY" (env PERMIT_API_KEY);
                     never printed
  --ca-file FILE     PEM file of the CA that signed an https:// service's certificate
                     (env PERMIT_CA_FILE)
  --timeout DURATION how long one request may take (default 10s)
  -h, --help         this help`;

export interface ParsedCommandLine {
  values: OptionValues;
  positionals: string[];
  /** What follows `--`, or undefined when there is no `--`. */
  rest: string[] | undefined;
}

/** node:util parseArgs with the command's options, its errors turned into UsageErrors in our words. */
export function parseCommandLine(command: string, argv: string[], options: OptionSpecs): ParsedCommandLine {
  const dashDash = argv.indexOf('--');
  const own = dashDash < 0 ? argv : argv.slice(0, dashDash);
  try {
    const parsed = parseArgs({ args: own, options: { ...CONNECTION_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return {
      values: parsed.values as OptionValues,
      positionals: parsed.positionals,
      rest: dashDash < 0 ? undefined : argv.slice(dashDash + 1),
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const quoted = /'([^']+)'/.exec((error as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new UsageError(`${command}: unknown option ${quoted ?? ''}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(`${command}: ${quoted?.replace(/ <value>$/, '') ?? 'an option'} needs a value`);
    }
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
}

/** Exactly the positional arguments the command takes, named in the message when one is missing or extra. */
export function expectPositionals(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(`${command}: missing <${names[positionals.length]}>; usage: permit ${command} ${names.map((name) => `<${name}>`).join(' ')} [options]`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`${command}: unexpected argument "${positionals[names.length]}"`);
  }
  return positionals;
}

/** A duration option in ms, or the default when it is not given. */
export function durationOption(
  values: OptionValues,
  name: string,
  fallbackMs: number,
  bounds: { minMs?: number; allowForever?: boolean } = {},
): number {
  const raw = values[name];
  if (typeof raw !== 'string') return fallbackMs;
  let ms: number;
  try {
    ms = parseDuration(raw, { allowForever: bounds.allowForever ?? false });
  } catch (error) {
    if (error instanceof DurationError) throw new UsageError(`--${name}: ${error.message}`);
    throw error;
  }
  if (bounds.minMs !== undefined && ms < bounds.minMs) {
    throw new UsageError(`--${name}: "${raw}" is shorter than the minimum ${bounds.minMs} ms`);
  }
  return ms;
}

/** A positive integer option, or undefined when it is not given. */
export function positiveIntegerOption(values: OptionValues, name: string): number | undefined {
  const raw = values[name];
  if (typeof raw !== 'string') return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`--${name}: "${raw}" is not a whole number of 1 or more`);
  }
  return Number(raw);
}

function fromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The client for --url / PERMIT_URL, --api-key / PERMIT_API_KEY, --ca-file / PERMIT_CA_FILE and --timeout. */
export function clientFromOptions(values: OptionValues, env: NodeJS.ProcessEnv): LockClient {
  const url = (typeof values.url === 'string' ? values.url : undefined) ?? fromEnv(env, 'PERMIT_URL') ?? DEFAULT_URL;
  const apiKey = (typeof values['api-key'] === 'string' ? values['api-key'] : undefined) ?? fromEnv(env, 'PERMIT_API_KEY');
  const caFile = (typeof values['ca-file'] === 'string' ? values['ca-file'] : undefined) ?? fromEnv(env, 'PERMIT_CA_FILE');
  const timeoutMs = durationOption(values, 'timeout', DEFAULT_TIMEOUT_MS, { minMs: 1 });
  if (caFile !== undefined && !fs.existsSync(caFile)) throw new UsageError(`--ca-file / PERMIT_CA_FILE: ${caFile} does not exist`);
  try {
    return new LockClient({ url, apiKey, timeoutMs, caFile });
  } catch (error) {
    // The message names the URL, never the key.
    throw new UsageError(`--url / PERMIT_URL: ${(error as Error).message.replace(/^url: /, '')}`);
  }
}
