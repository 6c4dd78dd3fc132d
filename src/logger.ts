import { pino, type Logger } from 'pino';

/** Paths that may carry credentials; pino replaces them before a line is written. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  '*.authorization',
  'apiKey',
  '*.apiKey',
  'temporal.apiKey',
];

/** The process-wide JSON logger; Fastify gets it through `loggerInstance`. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'lock-service', pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    // Synchronous by default: an asynchronous write still in flight at process.exit can land after a
    // later line flushed at exit, reordering the last lines, or be lost in a crash.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
