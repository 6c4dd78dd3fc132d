// `npm run chaos [-- --duration 120 --seed 7]`: breaks the lock service on purpose while clients use
// it, then judges the run (chaos/README.md). Prints one markdown table on stdout and writes the JSON
// next to the benchmark's results; exits 1 on any violation, 2 when the run itself could not be made.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { installSignalHandlers, onCleanup, runCleanups, spawnTracked } from '../bench/cleanup.js';
import { machineInfo, sourceInfo } from '../bench/machine.js';
import { say } from '../bench/progress.js';
import { REPO_ROOT } from '../test/helpers/process.js';
import { ChaosClients, type Hold, type ResourcePlan } from './clients.js';
import { startClusterTopology } from './cluster-topology.js';
import { startEmbeddedTopology } from './embedded-topology.js';
import { injectFaults, planFaults } from './faults.js';
import {
  faultImpacts,
  faultOutcomes,
  judgeLateReleases,
  judgeLiveness,
  judgeOverlap,
  judgeServerErrors,
  judgeStaleWrites,
  type LivenessResult,
  type StoreWrite,
} from './judge.js';
import { LookupStats } from './lookup-stats.js';
import { parseChaosOptions, UsageError } from './options.js';
import { renderReport } from './report.js';
import type { Topology } from './topology.js';

const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

/** The resources and their clients: a mutex, a capacity-3 resource, a mutex renewed for seconds on a short lease. */
const PLANS: ResourcePlan[] = [
  { resource: 'chaos-mutex', capacity: 1, clients: 6, leaseMs: 3_000, holdMs: [50, 600] },
  { resource: 'chaos-pool', capacity: 3, clients: 6, leaseMs: 3_000, holdMs: [50, 600] },
  { resource: 'chaos-renewing', capacity: 1, clients: 6, leaseMs: 1_500, holdMs: [3_000, 6_000], renewEveryMs: 500 },
];
const LIVENESS_SLACK_MS = 10_000;

async function startFencingStore(): Promise<string> {
  const store = spawnTracked('bash', [path.join(REPO_ROOT, 'examples', 'fencing-store', 'start.sh')], { cwd: REPO_ROOT }, 4_000);
  onCleanup('stop the fencing store', async () => {
    if (store.child.exitCode === null && store.child.signalCode === null) store.child.kill('SIGTERM');
    await store.closed;
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    const url = /fencing store listening on (http:\/\/\S+)/.exec(store.output())?.[1];
    if (url) return url;
    if (store.child.exitCode !== null || Date.now() > deadline) throw new Error(`the fencing store did not start:\n${store.output()}`);
    await delay(100);
  }
}

/**
 * After the faults: each resource must be fully acquirable (every slot granted) within the longest
 * lease plus 10 s, counted from the moment the faults stopped. These holds are judged with the others.
 */
async function checkLiveness(topology: Topology, faultsStoppedAt: number, holds: Hold[]): Promise<LivenessResult[]> {
  const boundMs = Math.max(...PLANS.map((plan) => plan.leaseMs)) + LIVENESS_SLACK_MS;
  const deadline = faultsStoppedAt + boundMs;
  return Promise.all(
    PLANS.map(async (plan) => {
      const granted = await Promise.all(
        Array.from({ length: plan.capacity }, async (_, index) => {
          const url = topology.urls[index % topology.urls.length]!;
          while (Date.now() < deadline) {
            const sentAt = Date.now();
            try {
              const response = await fetch(`${url}/resources/${plan.resource}/acquire`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ leaseMs: 30_000, waitMs: Math.max(0, deadline - sentAt), holder: `liveness ${index}` }),
                signal: AbortSignal.timeout(Math.max(0, deadline - sentAt) + 10_000),
              });
              const body = (await response.json()) as { runId: string; fencingSeq: string; slot: number; waitedMs: number };
              if (response.status === 201) {
                const hold: Hold = {
                  client: `liveness ${plan.resource} #${index}`,
                  resource: plan.resource,
                  capacity: plan.capacity,
                  slot: body.slot,
                  runId: body.runId,
                  fencingSeq: body.fencingSeq,
                  grantedBy: url,
                  leaseMs: 30_000,
                  sentAt,
                  grantedAt: Date.now(),
                  leaseEndClient: sentAt + body.waitedMs + 30_000,
                  leaseEndUpper: Date.now() + 30_000,
                  paused: false,
                  writes: [],
                };
                holds.push(hold);
                return hold;
              }
              if (response.status !== 409 && response.status !== 503) return undefined;
            } catch {
              // no answer: try again
            }
            await delay(200);
          }
          return undefined;
        }),
      );
      const held = granted.filter((hold): hold is Hold => !!hold);
      const elapsedMs = held.length === plan.capacity ? Math.max(...held.map((hold) => hold.grantedAt)) - faultsStoppedAt : undefined;
      for (const hold of held) {
        hold.releaseSentAt = Date.now();
        const response = await fetch(`${hold.grantedBy}/permits/${hold.runId}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
        hold.releaseStatus = response?.status ?? 0;
      }
      return { resource: plan.resource, capacity: plan.capacity, granted: held.length, elapsedMs, boundMs };
    }),
  );
}

async function storeLogs(storeUrl: string, holds: readonly Hold[]): Promise<Map<string, StoreWrite[]>> {
  const keys = [...new Set(holds.map((hold) => `${hold.resource}.${hold.slot}`))].sort();
  const logs = new Map<string, StoreWrite[]>();
  for (const key of keys) {
    const response = await fetch(`${storeUrl}/keys/${key}/writes`, { signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) throw new Error(`the fencing store answered ${response.status} for the writes of ${key}`);
    logs.set(key, ((await response.json()) as { writes: StoreWrite[] }).writes);
  }
  return logs;
}

async function main(): Promise<number> {
  const options = parseChaosOptions(process.argv.slice(2));
  installSignalHandlers();
  const started = new Date();
  const repeat = `--seed ${options.seed} --duration ${options.durationSec}${options.topology === 'cluster' ? ' --cluster' : ''}`;
  say(`chaos run on the ${options.topology} topology: ${options.durationSec} s, seed ${options.seed} (repeat with ${repeat})`);
  const storeUrl = await startFencingStore();
  say(`fencing store on ${storeUrl}`);
  const capacities = Object.fromEntries(PLANS.map((plan) => [plan.resource, plan.capacity]));
  const logDir = path.join(RESULTS_DIR, 'chaos-logs', started.toISOString().replaceAll(':', '-'));
  const topology =
    options.topology === 'cluster' ? await startClusterTopology(capacities, logDir) : await startEmbeddedTopology(capacities, logDir);
  say(`the ${options.topology === 'cluster' ? 'processes\'' : 'replicas\''} logs go to ${path.relative(REPO_ROOT, logDir)}`);
  const durationMs = options.durationSec * 1_000;
  const plan = planFaults(options.seed, durationMs, topology);
  say(`${plan.length} faults planned: ${topology.faultKinds.map((kind) => `${plan.filter((fault) => fault.kind === kind).length} ${kind}`).join(', ')}`);

  const lookups = new LookupStats();
  const scraping = setInterval(() => void lookups.scrape(topology.metricsUrls()), 2_000);
  const clients = new ChaosClients(topology.urls, topology.urlsAreReplicas, storeUrl, PLANS, options.seed);
  const stop = new AbortController();
  const clientsStartedAt = Date.now();
  clients.start(stop.signal);
  const faults = await injectFaults(plan, clientsStartedAt, topology, clients, options.seed);
  await delay(Math.max(0, clientsStartedAt + durationMs - Date.now()));
  const faultsStoppedAt = Date.now();
  say('faults over: stopping the clients and checking that every resource is fully acquirable');
  stop.abort();
  const liveness = await checkLiveness(topology, faultsStoppedAt, clients.records.holds);
  await clients.finished();
  clearInterval(scraping);
  await lookups.scrape(topology.metricsUrls());

  const { holds, answers } = clients.records;
  const judgements = [
    judgeOverlap(holds, capacities),
    judgeStaleWrites(await storeLogs(storeUrl, holds), holds),
    judgeLateReleases(clients.releases),
    judgeLiveness(liveness),
    judgeServerErrors(answers),
  ];
  const impacts = faultImpacts(faults, answers, faultsStoppedAt);
  const outcomes = faultOutcomes(faults, answers, faultsStoppedAt);
  const lookupSummary = lookups.summary(answers, faults);
  const grants = Object.fromEntries(PLANS.map((p) => [p.resource, holds.filter((hold) => hold.resource === p.resource).length]));
  const results = {
    topology: topology.name,
    startedAt: started.toISOString(),
    durationSec: options.durationSec,
    seed: options.seed,
    machine: machineInfo(),
    source: await sourceInfo(),
    plans: PLANS,
    grants,
    requests: answers.length,
    faults: faults.map((fault, index) => ({
      ...fault,
      seconds503: outcomes[index]!.seconds503.length,
      longestUnavailableMs: outcomes[index]!.longestUnavailableMs,
    })),
    impacts,
    judgements,
    liveness,
    lookups: lookupSummary,
    passed: judgements.every((judgement) => judgement.passed),
  };
  process.stdout.write(renderReport(results));
  await fs.mkdir(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(results, null, 2)}\n`;
  await fs.writeFile(path.join(RESULTS_DIR, `chaos-${topology.name}.json`), json);
  if (options.out) await fs.writeFile(options.out, json);
  // Every request and hold, beside the processes' logs, to look into what a figure comes from.
  await fs.writeFile(path.join(logDir, 'records.json'), JSON.stringify({ answers, holds }));
  return results.passed ? 0 : 1;
}

let exitCode = 2;
try {
  exitCode = await main();
} catch (error) {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    exitCode = 64;
  } else {
    say(`the chaos run failed: ${(error as Error).stack ?? String(error)}`);
  }
} finally {
  await runCleanups();
}
process.exit(exitCode);
