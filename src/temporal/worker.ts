import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import {
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import type { Logger } from 'pino';
import type { TemporalConnectionOptions } from './connection-options.js';

/**
 * SDK warnings that describe this service working as designed, logged at debug: the worker runs
 * workflows only, and a release terminates a run whose first workflow task may still be in flight.
 */
const EXPECTED_WARNINGS = /^(No (activities|Nexus services) registered|Task not found when completing)/;
const PINO_METHODS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/** Sends the SDK's own log lines into pino, so one process writes one JSON log. */
class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const method = EXPECTED_WARNINGS.test(message) ? 'debug' : PINO_METHODS[level];
    this.pino[method]({ ...meta, component: 'temporal-sdk' }, message);
  }
  trace(message: string, meta?: LogMetadata) { this.log('TRACE', message, meta); }
  debug(message: string, meta?: LogMetadata) { this.log('DEBUG', message, meta); }
  info(message: string, meta?: LogMetadata) { this.log('INFO', message, meta); }
  warn(message: string, meta?: LogMetadata) { this.log('WARN', message, meta); }
  error(message: string, meta?: LogMetadata) { this.log('ERROR', message, meta); }
}

/**
 * How long a workflow task waits on the sticky queue of the worker that ran the run's last task
 * before the server hands it to any worker (which replays the run's history). The SDK's default is
 * 10 s: when that worker's replica dies, every renewal and lease timer of the permits it last ran
 * waits 10 s, longer than a short lease. 250 ms keeps a renewal sent at a third of the shortest
 * lease (1 s) answered before the lease ends: measured, a renewal through a surviving replica takes
 * about 340 ms on a busy 2-core machine. Turning the cache off instead (every task replays the
 * whole history) costs 110 ms per renewal on a fresh permit and 560 ms after 300 renewals.
 */
const STICKY_QUEUE_TIMEOUT_MS = 250;

let runtimeInstalled = false;

/** A child logger at warn, or at the parent's level when that is stricter (or debug/trace, to see everything). */
function quieter(log: Logger): Logger {
  const verbose = log.level === 'debug' || log.level === 'trace';
  const level = verbose || log.levelVal > log.levels.values.warn! ? log.level : 'warn';
  return log.child({}, { level });
}

/** Routes SDK logs through pino; the SDK allows one Runtime per process, so later calls are no-ops. */
export function installTemporalRuntime(log: Logger): void {
  if (runtimeInstalled) return;
  // The SDK is chatty at info (webpack output, worker state); only its warnings reach the service log.
  Runtime.install({
    logger: new PinoTemporalLogger(quieter(log)),
    // The SDK core (Rust) logs to stderr as text unless forwarded; forwarded, it joins the JSON log.
    telemetryOptions: { logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } } },
  });
  runtimeInstalled = true;
}

/**
 * The workflow entry point next to this module (.ts when run by tsx, .js once compiled): the
 * service's own workflows, or those plus the example consumer for the demo and the tests.
 */
export function workflowsPath({ withExamples = false } = {}): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), 'workflows', `${withExamples ? 'with-examples' : 'index'}${path.extname(here)}`);
}

/** The SDK's logger for pino: its warnings only, unless the service logs at debug or trace. */
export function sdkLogger(log: Logger): TemporalLogger {
  return new PinoTemporalLogger(quieter(log));
}

export interface PermitWorkerOptions {
  connectionOptions: TemporalConnectionOptions;
  namespace: string;
  taskQueue: string;
  workflowBundle: WorkflowBundleOption;
  /** Activities this worker runs for workflow callers (the Semaphore's capacity confirmations). */
  activities?: object;
  /** Permit runs kept in memory between their workflow tasks (WORKER_CACHED_PERMITS). */
  maxCachedWorkflows?: number;
}

export interface PermitWorker {
  worker: Worker;
  connection: NativeConnection;
}

/** Creates (but does not run) the worker that executes permit workflows in this process. */
export async function createPermitWorker(options: PermitWorkerOptions): Promise<PermitWorker> {
  const { address, tls, apiKey } = options.connectionOptions;
  const connection = await NativeConnection.connect({ address, tls, apiKey });
  try {
    const worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      workflowBundle: options.workflowBundle,
      activities: options.activities,
      // Permit workflows only wait on timers and messages; a short grace lets shutdown finish promptly.
      shutdownGraceTime: '5s',
      stickyQueueScheduleToStartTimeout: STICKY_QUEUE_TIMEOUT_MS,
      maxCachedWorkflows: options.maxCachedWorkflows,
    });
    return { worker, connection };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
