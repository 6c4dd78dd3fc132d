// `npm run cluster [-- --check] [--capacities gpu-pool=3,db=1]`: the production-shaped topology on
// this machine (cluster/cluster.ts). Prints its URL on stdout ("lock service cluster listening on
// <url>") and runs until Ctrl-C; --check makes one acquire and release through the load balancer,
// prints what answered, and stops everything.
import os from 'node:os';
import path from 'node:path';
import { installSignalHandlers, runCleanups } from '../bench/cleanup.js';
import { EnvSchema } from '../src/config.js';
import { startCluster } from './cluster.js';

const USAGE = `Usage: npm run cluster -- [--check] [--capacities NAME=N,...] [--logs DIR]

Starts PostgreSQL, a Temporal server built from its Go module (4 history shards, on PostgreSQL), three
replicas of the lock service (SERVICE_ROLE api, worker and all) and HAProxy in front of the api and all
replicas, with the configs in deploy/. Prints the load balancer's URL and runs until Ctrl-C.

  --check               acquire and release one permit through the load balancer, then stop
  --capacities LIST     RESOURCE_CAPACITIES of every replica (default gpu-pool=3)
  --logs DIR            where the processes' logs go (default: a new dir under ${os.tmpdir()})`;

const say = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

function parseArgs(argv: string[]): { check: boolean; capacities: string; logDir: string | undefined } {
  const options = { check: false, capacities: 'gpu-pool=3', logDir: undefined as string | undefined };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    if (flag === '--check') options.check = true;
    else if (flag === '--capacities' && argv[index + 1] !== undefined) options.capacities = argv[++index]!;
    else if (flag === '--logs' && argv[index + 1] !== undefined) options.logDir = argv[++index]!;
    else throw new Error(flag === '--help' || flag === '-h' ? USAGE : `unknown or incomplete flag ${flag}\n\n${USAGE}`);
  }
  return options;
}

async function check(url: string): Promise<void> {
  const acquired = await fetch(`${url}/resources/cluster-check/acquire`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ leaseMs: 10_000, holder: 'npm run cluster -- --check' }),
  });
  const permit = (await acquired.json()) as { runId?: string; fencingSeq?: string; slot?: number };
  if (acquired.status !== 201 || !permit.runId) throw new Error(`acquire through the load balancer answered ${acquired.status}: ${JSON.stringify(permit)}`);
  const released = await fetch(`${url}/permits/${permit.runId}`, { method: 'DELETE' });
  if (released.status !== 204) throw new Error(`release through the load balancer answered ${released.status}`);
  say(`check: acquire 201 (runId ${permit.runId}, fencingSeq ${permit.fencingSeq}), release 204`);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const capacities = EnvSchema.shape.RESOURCE_CAPACITIES.parse(options.capacities);
  installSignalHandlers();
  const logDir = options.logDir ?? path.join(os.tmpdir(), `lock-service-cluster-logs-${new Date().toISOString().replaceAll(':', '-')}`);
  const started = Date.now();
  const cluster = await startCluster({ capacities, logDir, logLevel: 'info', say });
  say(`ready in ${Math.round((Date.now() - started) / 1000)} s; logs in ${logDir}`);
  for (const replica of cluster.replicas) say(`replica ${replica.role}: ${replica.url}${replica.role === 'worker' ? ' (probes and metrics only)' : ''}`);
  say(`temporal-server ${cluster.build.version}: ${cluster.temporal.address}; PostgreSQL: ${cluster.postgres.host}:${cluster.postgres.port}`);
  process.stdout.write(`lock service cluster listening on ${cluster.url}\n`);
  if (options.check) {
    await check(cluster.url);
    return 0;
  }
  say('Ctrl-C stops everything');
  // installSignalHandlers() runs the cleanups and exits on SIGINT or SIGTERM.
  await new Promise(() => undefined);
  return 0;
}

let exitCode: number;
try {
  exitCode = await main();
} catch (error) {
  const usage = (error as Error).message.includes('Usage:');
  say(usage ? (error as Error).message : `failed: ${(error as Error).stack ?? String(error)}`);
  exitCode = usage ? 64 : 2;
} finally {
  await runCleanups();
}
process.exit(exitCode);
