// `node --expose-gc --import tsx bench/worker-cache.ts`: what a held permit costs the service's memory,
// with the worker's cache (WORKER_CACHED_PERMITS) keeping every permit's run and keeping almost none,
// and what a renewal costs when its run is not in the cache and must be replayed from its history.
// The service runs in this process, so garbage is collected before each reading (an RSS read from
// outside counts garbage too); the Temporal dev server is its own, started like the benchmark's.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { startLockService, type LockService } from '../src/lock-service.js';
import { createLogger } from '../src/logger.js';
import { startDevServer } from '../src/temporal/dev-server.js';
import { provisionTemporalCli } from '../src/temporal/provision-cli.js';
import { freePort } from '../test/helpers/process.js';
import { median } from './stats.js';

const HELD_LEVELS = [500, 2_000];
const RENEWALS_BEFORE_EVICTION = [0, 100, 300];
const SAMPLES = 5;
const LANES = 16;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc --import tsx bench/worker-cache.ts\n');
  process.exit(64);
}

async function settledMemory(): Promise<{ rssMB: number; heapMB: number }> {
  for (let round = 0; round < 5; round++) {
    gc!();
    await sleep(200);
  }
  const status = await fs.readFile('/proc/self/status', 'utf8');
  return { rssMB: Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024, heapMB: process.memoryUsage().heapUsed / 2 ** 20 };
}

async function call(service: LockService, method: string, url: string, payload?: object): Promise<{ status: number; body: { runId?: string } }> {
  const answer = await service.app.inject({ method: method as 'POST', url, payload });
  return { status: answer.statusCode, body: answer.body ? (JSON.parse(answer.body) as { runId?: string }) : {} };
}

async function cachedRuns(service: LockService): Promise<number> {
  return Number(/^lock_worker_cached_workflows (\d+)/m.exec((await service.app.inject({ url: '/metrics' })).body)?.[1] ?? NaN);
}

async function start(address: string, cache: number): Promise<LockService> {
  const config = loadConfig({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: `worker-cache-${randomUUID()}`,
    LOG_LEVEL: 'warn',
    WORKER_CACHED_PERMITS: String(cache),
    RATE_LIMIT_PER_SECOND: '0',
    RESOURCE_CAPACITIES: `pool=${Math.max(...HELD_LEVELS)}`,
  });
  return startLockService(config, createLogger('warn'));
}

/** Memory with 0 and HELD_LEVELS held permits, the worker keeping up to `cache` runs. */
async function memoryRows(address: string, cache: number): Promise<string[]> {
  const service = await start(address, cache);
  const runIds: string[] = [];
  const rows: string[] = [];
  try {
    const base = await settledMemory();
    rows.push(`| ${cache} | 0 | ${base.rssMB.toFixed(0)} | ${base.heapMB.toFixed(0)} | 0 | | |`);
    for (const level of HELD_LEVELS) {
      let next = runIds.length;
      await Promise.all(
        Array.from({ length: LANES }, async () => {
          while (next < level) {
            next += 1;
            const answer = await call(service, 'POST', '/resources/pool/acquire', { capacity: Math.max(...HELD_LEVELS), leaseMs: 1_800_000 });
            if (answer.status !== 201) throw new Error(`acquire: ${answer.status} ${JSON.stringify(answer.body)}`);
            runIds.push(answer.body.runId!);
          }
        }),
      );
      // The worker has run every new permit's first task once its cache holds as many runs as it can.
      const deadline = Date.now() + 120_000;
      while ((await cachedRuns(service)) < Math.min(level, cache) && Date.now() < deadline) await sleep(200);
      const reading = await settledMemory();
      const perPermit = (mb: number) => `${((mb * 1024) / level).toFixed(1)} KB`;
      rows.push(
        `| ${cache} | ${level} | ${reading.rssMB.toFixed(0)} | ${reading.heapMB.toFixed(0)} | ${await cachedRuns(service)} | ` +
          `${perPermit(reading.rssMB - base.rssMB)} | ${perPermit(reading.heapMB - base.heapMB)} |`,
      );
    }
  } finally {
    let next = 0;
    await Promise.all(Array.from({ length: LANES }, async () => {
      while (next < runIds.length) await call(service, 'DELETE', `/permits/${runIds[next++]}`);
    }));
    await service.stop();
  }
  return rows;
}

/** Renewal latency of a permit whose run is in the cache, and of the same one just evicted, after N renewals. */
async function evictionRows(address: string): Promise<string[]> {
  // The smallest cache the SDK allows: touching two other permits evicts the one measured.
  const service = await start(address, 2);
  const rows: string[] = [];
  const acquire = async () => (await call(service, 'POST', `/resources/evict-${randomUUID().slice(0, 8)}/acquire`, { leaseMs: 1_800_000 })).body.runId!;
  const renew = async (runId: string) => {
    const started = performance.now();
    const answer = await call(service, 'POST', `/permits/${runId}/renew`, { leaseMs: 1_800_000 });
    if (answer.status !== 200) throw new Error(`renew: ${answer.status} ${JSON.stringify(answer.body)}`);
    return performance.now() - started;
  };
  const evict = async () => {
    for (let index = 0; index < 3; index++) {
      const other = await acquire();
      await renew(other);
      await call(service, 'DELETE', `/permits/${other}`);
    }
  };
  try {
    for (const renewals of RENEWALS_BEFORE_EVICTION) {
      const runId = await acquire();
      for (let index = 0; index < renewals; index++) await renew(runId);
      const cached: number[] = [];
      const evicted: number[] = [];
      for (let index = 0; index < SAMPLES; index++) {
        cached.push(await renew(runId));
        await evict();
        evicted.push(await renew(runId));
      }
      rows.push(`| ${renewals} | ${median(cached).toFixed(1)} ms | ${median(evicted).toFixed(1)} ms |`);
      await call(service, 'DELETE', `/permits/${runId}`);
    }
  } finally {
    await service.stop();
  }
  return rows;
}

/** Each cache size in a process of its own: memory a process once took is not given back to the OS. */
async function memoryRowsInChild(address: string, cache: number): Promise<string[]> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--memory', address, String(cache)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`the memory run with WORKER_CACHED_PERMITS=${cache} exited with ${code}`);
  return output.trim().split('\n');
}

if (process.argv[2] === '--memory') {
  process.stdout.write(`${(await memoryRows(process.argv[3]!, Number(process.argv[4]))).join('\n')}\n`);
  process.exit(0);
}

const log = createLogger('warn', pino.destination(2));
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-worker-cache-'));
const server = await startDevServer({
  cliPath: await provisionTemporalCli({ ...loadConfig({}).devServer, log }),
  dataDir,
  port: await freePort(),
  uiPort: 0,
  namespace: 'default',
  readyTimeoutMs: 60_000,
  log,
});
try {
  const memory = [...(await memoryRowsInChild(server.address, 100_000)), ...(await memoryRowsInChild(server.address, 50))];
  process.stdout.write(
    '| WORKER_CACHED_PERMITS | held permits | RSS MB | main heap MB | runs cached | RSS per held permit | main heap per held permit |\n' +
      `| --- | --- | --- | --- | --- | --- | --- |\n${memory.join('\n')}\n\n`,
  );
  const eviction = await evictionRows(server.address);
  process.stdout.write(`| renewals before | renew, run cached (median of ${SAMPLES}) | renew, run evicted |\n| --- | --- | --- |\n${eviction.join('\n')}\n`);
} finally {
  await server.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
process.exit(0);
