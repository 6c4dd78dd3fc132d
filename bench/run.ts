// `npm run bench [-- --quick] [--only …] [--out FILE] [--profile]`: starts its own Temporal dev
// server, the lock service and (when installed) Redis and etcd, measures every scenario of issue 3,
// prints one markdown table to stdout and writes the JSON under bench/results/. Progress goes to stderr.
import path from 'node:path';
import { REPO_ROOT } from '../test/helpers/process.js';
import { installSignalHandlers, runCleanups } from './cleanup.js';
import { KeepAliveHttp, UnexpectedAnswer } from './http-client.js';
import type { LockClient, LockSystem } from './lock-client.js';
import { startEnvironment, type Environment } from './environment.js';
import { machineInfo, sourceInfo } from './machine.js';
import { measureEtcd, measureRedis, measureThrottle } from './peers/measure-peers.js';
import { parseOptions, UsageError, type BenchOptions } from './plan.js';
import { describeProfiles, monotonicMicros, summarizeProfile, type PhaseWindow } from './profile-summary.js';
import { say } from './progress.js';
import { renderTable, writeResults } from './report.js';
import { buildTable, cycleStats, type PeerResults, type TemporalResults } from './rows.js';
import { runContention } from './scenarios/contention.js';
import { measureCycles, measureRoundTrips } from './scenarios/cycle.js';
import { runExpiryHandoff, runReleaseHandoff } from './scenarios/handoff.js';
import { runLargePool } from './scenarios/large-pool.js';
import { runOccupancy } from './scenarios/occupancy.js';
import { runAging } from './scenarios/aging.js';
import { runMemory } from './scenarios/memory.js';
import { heldFor, runAnatomy, type AnatomyPlan, type AnatomyVariant } from './scenarios/anatomy.js';
import { runRestarts } from './scenarios/restart.js';
import { runThroughput, runThroughputSideBySide } from './scenarios/throughput.js';
import { growth, meanMsBetween, scrapeMetrics, startAttemptsBetween, type MetricSamples } from './service-metrics.js';
import { mean, summarize } from './stats.js';
import { HttpLockClient, httpServiceSystem } from './systems/http-service.js';
import { rawTemporalSystem } from './systems/raw-temporal.js';

const CONTENTION_RESOURCE = 'bench-contention';
const OCCUPANCY_RESOURCE = 'bench-occupancy';
const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');

/** Samples the results do not carry already, so every figure in the table can be recomputed from the JSON. */
type Samples = Record<string, number[]>;

/** Runs one phase and remembers its time window, so the service's CPU profile can be cut to it. */
async function inWindow<T>(windows: PhaseWindow[], phase: string, work: () => Promise<T>): Promise<T> {
  const fromUs = monotonicMicros();
  try {
    return await work();
  } finally {
    windows.push({ phase, fromUs, toUs: monotonicMicros() });
  }
}

async function measureTemporal(env: Environment, options: BenchOptions, samples: Samples, windows: PhaseWindow[]): Promise<TemporalResults> {
  const { plan, phases } = options;
  const { startDelay } = env;
  const raw = rawTemporalSystem({ client: env.client, taskQueue: env.taskQueue, maxHoldMs: env.maxHoldMs, rpcTimeoutMs: env.rpcTimeoutMs, startDelay });
  // The honest floor: the same start and terminate on a task queue no worker polls, so no workflow task ever runs.
  const unpolled = rawTemporalSystem({
    client: env.client,
    taskQueue: `${env.taskQueue}-unpolled`,
    maxHoldMs: env.maxHoldMs,
    rpcTimeoutMs: env.rpcTimeoutMs,
    startDelay,
  });
  const http = httpServiceSystem(env.serviceUrl);
  const httpClient = await http.connect();
  const rawClient = await raw.connect();
  const floorClient = await unpolled.connect();
  const cpuPids = { server: env.serverPid, service: env.servicePid };
  const compared = env.compared && httpServiceSystem(env.compared.url);
  const comparedClient = await compared?.connect();
  const comparedPids = env.compared && { server: env.serverPid, service: env.compared.pid };
  // First of all: every grant of the other phases leaves a timer that fires, as a no-op, a lease
  // (30 s) later, and those would fall into the anatomy's windows and its idle measurement.
  const anatomyPids = { ...cpuPids, ...(env.compared && { compared: env.compared.pid }) };
  const anatomy = phases.has('anatomy')
    ? await inWindow(windows, 'anatomy', () =>
        runAnatomy('anatomy', anatomyVariants(env, raw, unpolled, plan.anatomy), plan.anatomy, anatomyPids, env.serverMetricsUrl),
      )
    : undefined;
  let beforeCycles: MetricSamples | undefined;
  const cycles = await inWindow(windows, 'cycle', () =>
    measureCycles(
      'cycle (honest floor, raw Temporal and HTTP, interleaved)',
      [
        { label: 'unpolled', client: floorClient, resource: 'bench-unpolled-cycle' },
        { label: 'raw', client: rawClient, resource: 'bench-raw-cycle' },
        { label: 'http', client: httpClient, resource: 'bench-http-cycle' },
        ...(comparedClient ? [{ label: 'compared', client: comparedClient, resource: 'bench-compared-cycle' }] : []),
      ],
      plan.cycle,
      async () => {
        beforeCycles = await scrapeMetrics(env.http);
      },
      // The compared service's CPU is read too, so each subject's blocks show both services' use.
      { ...cpuPids, ...(env.compared && { compared: env.compared.pid }) },
    ),
  );
  await comparedClient?.close();
  const afterCycles = await scrapeMetrics(env.http);
  await httpClient.close();
  const floor = await inWindow(windows, 'healthz', () => measureRoundTrips('HTTP round trip GET /healthz', env.http, '/healthz', plan.floor));
  for (const [label, cycle] of cycles) {
    samples[`${label}.acquireMs`] = cycle.acquireMs;
    samples[`${label}.releaseMs`] = cycle.releaseMs;
  }
  samples['floor.healthzMs'] = floor;
  const results: TemporalResults = {
    raw: cycleStats(cycles.get('raw')!),
    http: cycleStats(cycles.get('http')!),
    floor: summarize(floor),
    unpolled: cycleStats(cycles.get('unpolled')!),
    startDelay,
    ...(anatomy && { anatomy }),
    cycleCpuMs: Object.fromEntries([...cycles].map(([label, cycle]) => [label, cycle.cpuMs ?? {}])),
    ...(env.compared && { compared: { label: env.compared.label, cycle: cycleStats(cycles.get('compared')!) } }),
  };
  const rawSamples = cycles.get('raw')!;
  const httpSamples = cycles.get('http')!;
  results.breakdown = {
    acquire: {
      clientMs: mean(httpSamples.acquireMs),
      fastifyMs: meanMsBetween(beforeCycles, afterCycles, 'lock_http_request_duration_seconds', { method: 'POST', route: '/resources/:resource/acquire', status: '201' }),
      permitServiceMs: meanMsBetween(beforeCycles, afterCycles, 'lock_acquire_duration_seconds', { outcome: 'granted' }),
      rawMs: mean(rawSamples.acquireMs),
    },
    release: {
      clientMs: mean(httpSamples.releaseMs),
      fastifyMs: meanMsBetween(beforeCycles, afterCycles, 'lock_http_request_duration_seconds', { method: 'DELETE', route: '/permits/:runId', status: '204' }),
      rawMs: mean(rawSamples.releaseMs),
    },
    capacityRecordCalls: {
      calls: growth(beforeCycles, afterCycles, 'lock_capacity_record_calls_total') ?? 0,
      cycles: httpSamples.acquireMs.length,
    },
    fencingSeqReads: {
      reads: growth(beforeCycles, afterCycles, 'lock_fencing_seq_read_duration_seconds_count') ?? 0,
      meanMs: meanMsBetween(beforeCycles, afterCycles, 'lock_fencing_seq_read_duration_seconds'),
      cycles: httpSamples.acquireMs.length,
    },
  };
  if (phases.has('contention')) {
    const before = await scrapeMetrics(env.http);
    results.contention = await inWindow(windows, 'contention', () => runContention('contention', http, CONTENTION_RESOURCE, plan.contention));
    const after = await scrapeMetrics(env.http);
    // Counted over the whole phase (warm-up and the cancelled tail too), so per grant it is approximate.
    results.contentionStarts = {
      attempts: startAttemptsBetween(before, after),
      busy: growth(before, after, 'lock_slot_start_attempts_total', { result: 'busy' }),
      granted: growth(before, after, 'lock_acquire_total', { outcome: 'granted' }),
    };
  }
  if (phases.has('handoff')) {
    results.handoffRelease = await inWindow(windows, 'hand-off after release', () =>
      runReleaseHandoff('hand-off after release', http, 'bench-handoff', plan.handoff),
    );
    if (compared && results.compared) {
      results.compared.handoffRelease = await runReleaseHandoff('hand-off after release (compared service)', compared, 'bench-compared-handoff', plan.handoff);
    }
    results.handoffExpiry = await inWindow(windows, 'hand-off after expiry', () =>
      runExpiryHandoff('hand-off after lease expiry', http, 'bench-expiry', plan.expiry),
    );
  }
  if (phases.has('throughput')) {
    const before = await scrapeMetrics(env.http);
    if (compared && comparedPids && results.compared) {
      const [first, second] = await inWindow(windows, 'throughput', () =>
        runThroughputSideBySide(
          'throughput',
          [
            { label: 'service', system: http, resourcePrefix: 'bench-k', pids: { ...cpuPids, benchmark: process.pid } },
            { label: 'compared service', system: compared, resourcePrefix: 'bench-compared-k', pids: { ...comparedPids, benchmark: process.pid } },
          ],
          plan.throughput,
        ),
      );
      results.throughput = first;
      results.compared.throughput = second;
    } else {
      results.throughput = await inWindow(windows, 'throughput', () =>
        runThroughput('throughput', http, 'bench-k', plan.throughput, { ...cpuPids, benchmark: process.pid }),
      );
    }
    const after = await scrapeMetrics(env.http);
    results.throughputFencingReads = growth(before, after, 'lock_fencing_seq_read_duration_seconds_count');
  }
  if (phases.has('occupancy')) {
    results.occupancy = await inWindow(windows, 'occupancy', () =>
      runOccupancy('occupancy', env.serviceUrl, env.http, env.client, OCCUPANCY_RESOURCE, plan.occupancy),
    );
  }
  if (phases.has('large-pool')) {
    // A second replica on the same task queue: it sees none of the first one's releases itself.
    const replicaB = await env.startReplica('replica-b');
    try {
      const replicaA = { url: env.serviceUrl, pid: env.servicePid, http: env.http, stop: async () => {} };
      results.largePool = await inWindow(windows, 'large pool', () =>
        runLargePool('large pool', replicaA, replicaB, env.client, { temporal: env.temporalPid, replicaA: env.servicePid, replicaB: replicaB.pid }, plan.largePool),
      );
    } finally {
      await replicaB.stop();
    }
  }
  return results;
}

/** The cycles whose cost to the server the anatomy phase compares, each on a resource of its own. */
function anatomyVariants(env: Environment, raw: LockSystem, unpolled: LockSystem, { holdMs, leaseMs }: AnatomyPlan): AnatomyVariant[] {
  const connected = (system: LockSystem) => {
    let client: Promise<LockClient> | undefined;
    return () => (client ??= system.connect());
  };
  const floor = connected(unpolled);
  const worked = connected(raw);
  const serviceVariants = (url: string, name: string, service: string): AnatomyVariant[] => {
    const http = new HttpLockClient(new KeepAliveHttp(url, 1));
    const acquire = (resource: string) => http.acquire({ resource: `${resource}-${service}`, capacity: 1, leaseMs, waitMs: 0 });
    return [
      { label: `${name}: acquire + release`, service, cycle: async () => (await acquire('bench-anatomy-service')).release() },
      {
        label: `${name}: acquire, hold ${holdMs} ms, release`,
        service,
        cycle: () => heldFor(holdMs, () => acquire('bench-anatomy-held'), (held) => held.release()),
      },
      {
        label: `${name}: acquire, renew once, release`,
        service,
        cycle: async () => {
          const held = await acquire('bench-anatomy-renewed');
          const renewed = await http.http.request('POST', `/permits/${held.runId}/renew`, {});
          if (renewed.status !== 200) throw new UnexpectedAnswer(`renew ${held.runId}`, renewed);
          await held.release();
        },
      },
    ];
  };
  const once = (system: () => Promise<LockClient>, resource: string) => async () =>
    (await (await system()).acquire({ resource, capacity: 1, leaseMs, waitMs: 0 })).release();
  return [
    { label: 'honest floor: start + terminate, no worker', cycle: once(floor, 'bench-anatomy-floor') },
    { label: 'raw: start + terminate, the worker polling', cycle: once(worked, 'bench-anatomy-raw') },
    ...serviceVariants(env.serviceUrl, 'service', 'service'),
    ...(env.compared ? serviceVariants(env.compared.url, `service with ${env.compared.label}`, 'compared') : []),
  ];
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  installSignalHandlers();
  const startedAt = new Date();
  const started = performance.now();
  const machine = machineInfo();
  const source = await sourceInfo();
  const profileDir = options.profile ? path.join(RESULTS_DIR, 'profiles', startedAt.toISOString().replaceAll(':', '-')) : undefined;
  say(`mode ${options.plan.mode}, phases ${[...options.phases].join(', ')}`);

  const samples: Samples = {};
  const env = await startEnvironment({
    resourceCapacities: `${CONTENTION_RESOURCE}=${options.plan.contention.capacity},${OCCUPANCY_RESOURCE}=${options.plan.occupancy.capacity}`,
    profileDir,
    serviceEnv: options.serviceEnv,
    ...(Object.keys(options.compareEnv).length > 0 && { compareEnv: options.compareEnv }),
  });
  const windows: PhaseWindow[] = [];
  const temporal = await measureTemporal(env, options, samples, windows);
  if (options.phases.has('restart')) temporal.restart = await runRestarts('restart', env.temporalAddress, options.plan.restart);
  // Stopped before the peers run, so they do not share the machine with an idle Temporal server.
  await env.stop();
  // Their own environments (aging: one aged and one fresh), with nothing else running.
  if (options.phases.has('aging')) temporal.aging = await runAging('aging', options.plan.aging);
  if (options.phases.has('memory')) temporal.memory = await runMemory('memory', options.plan.memory);
  const profile = profileDir ? await summarizeProfile(profileDir, windows) : undefined;
  if (profile) for (const line of describeProfiles(profile)) say(line);

  const peers: PeerResults[] = [];
  const peerOptions = { throughput: options.phases.has('throughput') };
  if (options.phases.has('redis')) peers.push(await measureRedis(options.plan, peerOptions));
  if (options.phases.has('etcd')) peers.push(await measureEtcd(options.plan, peerOptions));
  if (options.phases.has('throttle')) peers.push(await measureThrottle(options.plan, peerOptions));

  const { contention } = options.plan;
  const contentionLabel = `capacity ${contention.capacity}, ${contention.clients} clients, ${contention.holdMs} ms holds`;
  const table = buildTable(temporal, peers, contentionLabel);
  const wallClockSeconds = Math.round((performance.now() - started) / 100) / 10;
  const header =
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}; Node ${machine.node}; ` +
    `${env.temporalVersion}. Date ${startedAt.toISOString()}, mode ${options.plan.mode}, ` +
    `commit ${source.commit}${source.dirty ? ' (with uncommitted changes)' : ''}, wall clock ${wallClockSeconds} s.` +
    (Object.keys(options.serviceEnv).length > 0 ? ` The service ran with ${Object.entries(options.serviceEnv).map(([key, value]) => `${key}=${value}`).join(' ')}.` : '') +
    (profileDir ? ' The service ran under --cpu-prof, which slows it: use these figures to find costs, not to judge targets.' : '');
  const markdown = renderTable(table.rows);

  const files = await writeResults(
    RESULTS_DIR,
    startedAt,
    {
      date: startedAt.toISOString(),
      mode: options.plan.mode,
      phases: [...options.phases],
      serviceEnv: options.serviceEnv,
      compareEnv: options.compareEnv,
      source,
      machine: { ...machine, temporal: env.temporalVersion },
      wallClockSeconds,
      plan: options.plan,
      targets: table.targets,
      header,
      table: markdown,
      notes: table.notes,
      temporal,
      peers,
      profile,
      samples,
    },
    options,
  );

  process.stdout.write(`${header}\n\n${markdown}\n\n`);
  for (const note of table.notes) process.stdout.write(`- ${note}\n`);
  const unmet = table.targets.filter((target) => !target.met);
  process.stdout.write(
    `\nTargets met: ${table.targets.length - unmet.length} of ${table.targets.length}` +
      `${unmet.length ? ` (not met: ${unmet.map((target) => `${target.name} ${target.measured}, target ${target.target}`).join('; ')})` : ''}.\n`,
  );
  say(`results written to ${[files.timestamped, files.latest, files.out].filter(Boolean).join(', ')}`);
}

try {
  await main();
} catch (error) {
  if (error instanceof UsageError) {
    process.exitCode = error.exitCode;
    (error.exitCode === 0 ? process.stdout : process.stderr).write(`${error.message}\n`);
  } else {
    process.exitCode = 1;
    say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
} finally {
  await runCleanups();
}
// Everything is stopped, but etcd3 can leave a lease keep-alive timer behind its closed client, which
// would hold the process open for up to the lease's 30 s; exit once stdout has been written.
process.stdout.write('', () => process.exit());
