// `npm run demo`: 8 consumers, half over HTTP and half as Temporal workflows, contend for a
// capacity-3 resource on an in-process lock service; the output shows that at most 3 ever hold it.
import { randomUUID } from 'node:crypto';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { startLockService, type LockService } from '../lock-service.js';
import { createLogger } from '../logger.js';
import { devServerInUse, portInUse } from '../temporal/dev-server.js';
import { runDemo, type DemoReport } from './run-demo.js';
import { formatSeconds, Timeline } from './timeline.js';

const CAPACITY = 3;
const HTTP_CONSUMERS = 4;
const WORKFLOW_CONSUMERS = 4;
const TIMEOUT_MS = 120_000;

const out = (line = '') => process.stdout.write(`${line}\n`);

function readConfig(): Config {
  // Quiet logs keep the timeline readable, and port 0 avoids a clash with an `npm start` on 8080;
  // LOG_LEVEL and PORT still win when they are set.
  const { LOG_LEVEL, PORT } = process.env;
  return loadConfig({ ...process.env, LOG_LEVEL: LOG_LEVEL?.trim() || 'warn', PORT: PORT?.trim() || '0' });
}

/**
 * The embedded dev server of a running `npm start` on the same data directory is used rather than
 * refused, so the demo can run beside the service; anything else starts as `npm start` would.
 */
async function reuseRunningDevServer(config: Config): Promise<{ config: Config; note: string }> {
  if (config.temporal.address) return { config, note: `Temporal at ${config.temporal.address} (TEMPORAL_ADDRESS)` };
  const { port } = config.devServer;
  if ((await portInUse(port)) && (await devServerInUse(config.dataDir))) {
    const address = `127.0.0.1:${port}`;
    return {
      config: { ...config, temporal: { ...config.temporal, address } },
      note: `Temporal at ${address} (a server already running there, left running afterwards)`,
    };
  }
  return { config, note: `embedded Temporal dev server on 127.0.0.1:${port}, data in ${config.dataDir}` };
}

function printSummary(report: DemoReport, startupMs: number, interrupted: boolean): void {
  const holdersAt = report.maxHolderNames.length > 0 ? ` at +${formatSeconds(report.maxHoldersAtMs)}: ${report.maxHolderNames.join(', ')}` : '';
  out();
  out('Summary');
  out(`  consumers served: ${report.served}/${report.consumers} (${HTTP_CONSUMERS} http, ${WORKFLOW_CONSUMERS} workflow)`);
  out(`  max concurrent holders observed: ${report.maxHolders} (capacity ${CAPACITY})${holdersAt}`);
  const errors = report.sampleErrors > 0 ? `, ${report.sampleErrors} failed, last: ${report.lastSampleError}` : '';
  out(`  samples of GET /resources: ${report.samples}${errors}`);
  out(`  total time: ${formatSeconds(report.totalMs)} (service start-up ${formatSeconds(startupMs)})`);
  for (const failure of report.failures) out(`  not served: ${failure.consumer}: ${failure.reason}`);
  out();
  if (interrupted) {
    out('INTERRUPTED: permits held by the demo were released.');
  } else if (report.ok) {
    out(`PASS: every consumer was served and never more than ${CAPACITY} held the resource at once.`);
  } else {
    const reasons = [
      report.served < report.consumers ? `${report.consumers - report.served} consumer(s) not served` : '',
      report.maxHolders > CAPACITY ? `${report.maxHolders} holders at once exceeds capacity ${CAPACITY}` : '',
      report.samples === 0 ? 'the resource could not be sampled' : '',
    ].filter(Boolean);
    out(`FAIL: ${reasons.join('; ')}.`);
  }
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = readConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  const reused = await reuseRunningDevServer(config);
  config = reused.config;
  // Logs go to stderr so stdout is the timeline alone.
  const log = createLogger(config.logLevel, process.stderr);

  const interrupted = new AbortController();
  process.once('SIGINT', () => {
    out('\ninterrupted: releasing permits and stopping (Ctrl-C again to quit at once)');
    interrupted.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  process.once('SIGTERM', () => interrupted.abort());

  out(`Starting the lock service: ${reused.note}`);
  if (!config.temporal.address) out('  (the first run may spend a few minutes installing the Temporal CLI)');
  const startupStarted = Date.now();
  let service: LockService;
  try {
    service = await startLockService(config, log, { listen: true, withExampleWorkflows: true, onFatal: () => interrupted.abort() });
  } catch (error) {
    process.stderr.write(`The lock service did not start: ${(error as Error).message}\n`);
    return 1;
  }
  const startupMs = Date.now() - startupStarted;

  try {
    if (interrupted.signal.aborted) return 130;
    // A fresh resource per run, so permits or consumers left by an interrupted earlier run cannot take its slots.
    const runTag = randomUUID().slice(0, 8);
    const resource = `gpu-pool-${runTag}`;
    out(`  service ${service.url}, Temporal ${service.temporalAddress}, task queue ${config.temporal.taskQueue}`);
    out();
    out(
      `${HTTP_CONSUMERS + WORKFLOW_CONSUMERS} consumers (${HTTP_CONSUMERS} over HTTP, ${WORKFLOW_CONSUMERS} as workflows) ` +
        `contend for "${resource}", capacity ${CAPACITY}; each holds it 1-2 s.`,
    );
    out(`Watch it: GET ${service.url}/resources/${resource}?capacity=${CAPACITY}`);
    out();
    const timeline = new Timeline(out);
    timeline.header();
    const report = await runDemo({
      url: service.url!,
      client: service.client,
      taskQueue: config.temporal.taskQueue,
      resource,
      capacity: CAPACITY,
      httpConsumers: HTTP_CONSUMERS,
      workflowConsumers: WORKFLOW_CONSUMERS,
      holdMs: { min: 1_000, max: 2_000 },
      maxWaitMs: config.limits.maxWaitMs,
      timeoutMs: TIMEOUT_MS,
      runTag,
      timeline,
      signal: interrupted.signal,
    });
    printSummary(report, startupMs, interrupted.signal.aborted);
    if (interrupted.signal.aborted) return 130;
    return report.ok ? 0 : 1;
  } finally {
    out();
    out('Stopping the lock service...');
    await service.stop();
    out('Stopped.');
  }
}

// The Temporal runtime keeps native handles open, so the exit is explicit.
process.exit(await main());
