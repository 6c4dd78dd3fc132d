// An embedded server that has granted permits for weeks. Two fresh environments run side by side;
// one is aged with closed permits (the first ones real, through the service; the rest made with the
// raw SDK, the same start the service makes, then a terminate with the release's reason, on a task
// queue no worker polls). Then the same calls are timed against both, interleaved, so a slow patch
// of the machine falls on both alike. Last, the fresh one holds many permits and waiters, for memory.
import { setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { RELEASE_REASON } from '../../src/permits/close-reasons.js';
import { permitStartOptions } from '../../src/permits/permit-start.js';
import { DEFAULT_MAX_RENEWALS, PERMIT_WORKFLOW_TYPE } from '../../src/temporal/messages.js';
import { startEnvironment, type Environment } from '../environment.js';
import { KeepAliveHttp } from '../http-client.js';
import { progress, say } from '../progress.js';
import { formatRatio, type Row } from '../report.js';
import { scrapeMetrics, total } from '../service-metrics.js';
import { describeError, mapInLanes } from '../settle.js';
import { HttpLockClient, type HttpHeldLock } from '../systems/http-service.js';
import { ratio, summarize } from '../stats.js';
import { measureCycles, type CyclePlan, type CycleSamples } from './cycle.js';

export interface AgingPlan {
  /** Closed permits made through the service (acquire + release), which the database size per permit is taken from. */
  realPermits: number;
  realLanes: number;
  /** Closed permits the aged server holds in all; the rest after the real ones are made with the raw SDK. */
  closedPermits: number;
  rawLanes: number;
  /** Mutexes the closed permits are spread over; the timed cycles run on the first of them. */
  resources: number;
  cycles: CyclePlan;
  /** GET /permits/{runId} of closed runs the replica did not grant (a visibility lookup each), per server. */
  lookups: number;
  /** GET /resources?prefix=… (the dashboard's list: a visibility query for running permits), per server. */
  views: number;
  memory: MemoryPlan;
}

export interface MemoryPlan {
  /** Held permits at which memory is read; the last, the most, fills the pool, so the waiters wait. */
  heldLevels: number[];
  waiters: number;
  lanes: number;
  /** Renewals timed on the oldest held permits (evicted from the worker's cache first) and on the newest. */
  renewals: number;
}

export interface DatabaseSize {
  /** Closed permits on the server when read. */
  closed: number;
  /** The SQLite file plus its write-ahead log, in bytes. */
  bytes: number;
  /** Of which the write-ahead log. */
  walBytes: number;
}

export interface MemoryReading {
  held: number;
  waiters: number;
  serviceRssBytes: number;
  serverRssBytes: number;
  /** Permit runs in the worker's cache (lock_worker_cached_workflows). */
  cachedWorkflows: number | undefined;
}

export interface AgingResult {
  sizes: DatabaseSize[];
  realPermitsMade: number;
  rawPermitsMade: number;
  fillErrors: number;
  firstErrors: string[];
  /** Closed permits made per second, real and raw. */
  realPerSecond: number;
  rawPerSecond: number;
  /** From the last raw permit until visibility counted every closed permit. */
  visibilitySettleMs: number;
  cycles: { fresh: CycleSamples; aged: CycleSamples };
  lookupMs: { fresh: number[]; aged: number[] };
  lookupStatuses: Record<string, number>;
  viewMs: { fresh: number[]; aged: number[] };
  memory: MemoryReading[];
  /** Renewal latency of the oldest held permits (out of the worker's cache once it is full) and of the newest. */
  renewMs: { oldest: number[]; newest: number[] };
  /** How the waiters' acquires ended, by HTTP status (cancelled at the end, normally). */
  waiterAnswers: Record<string, number>;
  memoryErrors: number;
  /** Why the memory part stopped early, if it did; the figures before it stand. */
  memoryFailure?: string;
}

const POOL = 'bench-aging-pool';
const NO_WORKER_QUEUE = 'bench-aging-no-worker';
const FILL_LEASE_MS = 1_800_000;
const WAITER_BATCH = 100;

/** Settings both services get: the memory phase needs far more waiters and requests than one caller normally may. */
function agingServiceEnv(plan: AgingPlan): Record<string, string> {
  return {
    RATE_LIMIT_PER_SECOND: '0',
    MAX_WAITERS_PER_KEY: String(plan.memory.waiters * 2),
    MAX_WAITERS_PER_RESOURCE: String(plan.memory.waiters * 2),
  };
}

async function fileSize(file: string): Promise<number> {
  return (await fs.stat(file).catch(() => undefined))?.size ?? 0;
}

/** The database's size as a file system sees it: the main file and its write-ahead log. */
async function databaseSize(env: Environment, closed: number): Promise<DatabaseSize> {
  const walBytes = await fileSize(`${env.databaseFile}-wal`);
  return { closed, bytes: (await fileSize(env.databaseFile)) + walBytes, walBytes };
}

async function rssBytes(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

const resourceName = (index: number) => `bench-aged-${index}`;
const poolCapacity = (plan: MemoryPlan) => Math.max(...plan.heldLevels);

/** Acquire + release through the service, `lanes` callers each cycling on its own mutex. */
async function realPermits(phase: string, serviceUrl: string, count: number, lanes: number, resources: number, errors: (error: unknown) => void): Promise<number> {
  const clients = Array.from({ length: lanes }, () => new HttpLockClient(new KeepAliveHttp(serviceUrl, 1)));
  const shown = progress(phase, count, 'permits');
  let made = 0;
  try {
    await mapInLanes(Array.from({ length: count }), lanes, async (_, lane) => {
      try {
        const held = await clients[lane]!.acquire({ resource: resourceName(lane % resources), capacity: 1, leaseMs: 30_000, waitMs: 5_000 });
        await held.release();
        made += 1;
      } catch (error) {
        errors(error);
      }
      shown.tick();
    });
  } finally {
    for (const client of clients) await client.close();
  }
  shown.done();
  return made;
}

/** The service's own start, then a terminate with the release's reason: a closed permit that no worker ever ran. */
async function rawPermits(phase: string, client: Client, count: number, lanes: number, resources: number, offset: number, errors: (error: unknown) => void, runIds?: string[]): Promise<number> {
  const shown = progress(phase, count, 'permits');
  let made = 0;
  await mapInLanes(Array.from({ length: count }), lanes, async (_, index) => {
    const options = permitStartOptions({
      resource: resourceName((offset + index) % resources),
      slot: 0,
      capacity: 1,
      leaseMs: 30_000,
      maxHoldMs: 86_400_000,
      maxRenewals: DEFAULT_MAX_RENEWALS,
      holder: null,
      taskQueue: NO_WORKER_QUEUE,
    });
    try {
      const handle = await client.workflow.start(PERMIT_WORKFLOW_TYPE, options);
      await handle.terminate(`${RELEASE_REASON} (release made by the benchmark)`);
      runIds?.push(handle.firstExecutionRunId);
      made += 1;
    } catch (error) {
      errors(error);
    }
    shown.tick();
  });
  shown.done();
  return made;
}

/** Waits until visibility counts `closed` closed permits: the server has caught up with the burst. */
async function untilVisibilityCounts(phase: string, client: Client, closed: number): Promise<number> {
  const started = performance.now();
  const query = `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'`;
  for (;;) {
    const { count } = await client.workflow.count(query);
    if (count >= closed) break;
    if (performance.now() - started > 600_000) throw new Error(`${phase}: visibility counted ${count} of ${closed} closed permits after 10 min`);
    await sleep(500);
  }
  return performance.now() - started;
}

/** Timed GETs against both services, alternating sides; a status lookup path is used once (a found runId is remembered). */
async function interleavedGets(phase: string, fresh: KeepAliveHttp, aged: KeepAliveHttp, paths: { fresh: string[]; aged: string[] }, statuses?: Record<string, number>): Promise<{ fresh: number[]; aged: number[] }> {
  const result = { fresh: [] as number[], aged: [] as number[] };
  const count = Math.min(paths.fresh.length, paths.aged.length);
  const shown = progress(phase, count * 2, 'requests');
  for (let index = 0; index < count; index++) {
    for (const side of index % 2 === 0 ? (['fresh', 'aged'] as const) : (['aged', 'fresh'] as const)) {
      const http = side === 'fresh' ? fresh : aged;
      const started = performance.now();
      const answer = await http.request('GET', paths[side][index]!);
      result[side].push(performance.now() - started);
      if (statuses) statuses[`${side} ${answer.status}`] = (statuses[`${side} ${answer.status}`] ?? 0) + 1;
      shown.tick();
    }
  }
  shown.done();
  return result;
}

function sample<T>(items: readonly T[], count: number): T[] {
  const step = Math.max(1, Math.floor(items.length / count));
  return Array.from({ length: Math.min(count, items.length) }, (_, index) => items[index * step]!);
}

/** Memory of the fresh environment's service and server as held permits and then waiters grow. */
async function measureMemory(
  phase: string,
  env: Environment,
  plan: MemoryPlan,
  fail: (error: unknown) => void,
  into: Pick<AgingResult, 'memory' | 'renewMs' | 'waiterAnswers'>,
): Promise<Pick<AgingResult, 'memory' | 'renewMs' | 'waiterAnswers'>> {
  const lanes = Array.from({ length: plan.lanes }, () => new HttpLockClient(new KeepAliveHttp(env.serviceUrl, 1)));
  const held: HttpHeldLock[] = [];
  const { memory, renewMs } = into;
  const stopWaiting = new AbortController();
  setMaxListeners(plan.waiters * 2, stopWaiting.signal);
  const waitersHttp = new KeepAliveHttp(env.serviceUrl);
  const waiting: Array<Promise<unknown>> = [];
  const waiterAnswers = into.waiterAnswers;
  const read = async (waiters: number) => {
    const metrics = await scrapeMetrics(env.http);
    const reading: MemoryReading = {
      held: held.length,
      waiters,
      serviceRssBytes: await rssBytes(env.servicePid),
      serverRssBytes: await rssBytes(env.serverPid),
      cachedWorkflows: metrics ? total(metrics, 'lock_worker_cached_workflows') : undefined,
    };
    memory.push(reading);
    say(`${phase}: ${reading.held} held, ${waiters} waiting: service RSS ${(reading.serviceRssBytes / 2 ** 20).toFixed(0)} MB, ` +
      `dev server RSS ${(reading.serverRssBytes / 2 ** 20).toFixed(0)} MB, ${reading.cachedWorkflows ?? '?'} runs in the worker cache`);
  };
  try {
    await read(0);
    for (const level of plan.heldLevels) {
      const missing = level - held.length;
      const shown = progress(`${phase} fill to ${level}`, missing, 'permits');
      await mapInLanes(Array.from({ length: missing }), plan.lanes, async (_, lane) => {
        try {
          held.push(await lanes[lane]!.acquire({ resource: POOL, capacity: poolCapacity(plan), leaseMs: FILL_LEASE_MS, waitMs: 10_000 }));
        } catch (error) {
          fail(error);
        }
        shown.tick();
      });
      shown.done();
      await untilWorkerRan(env, held.slice(-8));
      await read(0);
    }
    const gauge = async () => total((await scrapeMetrics(env.http)) ?? new Map(), 'lock_waiters') ?? 0;
    // In batches, each queued before the next is sent: a thousand connections at once overflow the
    // listen backlog. An answer before the end is a finding (the pool is full), not a waiter.
    const answered = (status: string) => (waiterAnswers[status] = (waiterAnswers[status] ?? 0) + 1);
    const started = performance.now();
    for (let sent = 0; sent < plan.waiters; ) {
      const batch = Math.min(WAITER_BATCH, plan.waiters - sent);
      for (let index = 0; index < batch; index++) {
        waiting.push(
          waitersHttp
            .request('POST', `/resources/${POOL}/acquire`, { capacity: poolCapacity(plan), leaseMs: 30_000, waitMs: 300_000 }, stopWaiting.signal)
            .then(
              (answer) => answered(String(answer.status)),
              (error: unknown) => answered(stopWaiting.signal.aborted ? 'cancelled at the end' : describeError(error).slice(0, 60)),
            ),
        );
      }
      sent += batch;
      const answeredSoFar = () => Object.values(waiterAnswers).reduce((sum, count) => sum + count, 0);
      while ((await gauge()) + answeredSoFar() < sent && performance.now() - started < 120_000) await sleep(100);
    }
    const queued = await gauge();
    if (queued < plan.waiters) say(`${phase}: only ${queued} of ${plan.waiters} waiters queued; answers so far ${JSON.stringify(waiterAnswers)}`);
    await read(queued);

    // The worker's cache evicts the least recently used runs: the oldest fills, once it is full.
    const renew = async (permit: HttpHeldLock, into: number[]) => {
      const begun = performance.now();
      const answer = await env.http.request('POST', `/permits/${permit.runId}/renew`, { leaseMs: FILL_LEASE_MS });
      if (answer.status === 200) into.push(performance.now() - begun);
      else fail(new Error(`renew: HTTP ${answer.status} ${JSON.stringify(answer.body)}`));
    };
    for (let index = 0; index < plan.renewals; index++) {
      await renew(held[index]!, renewMs.oldest);
      await renew(held[held.length - 1 - index]!, renewMs.newest);
    }
  } finally {
    stopWaiting.abort();
    await Promise.all(waiting);
    waitersHttp.close();
    const releasing = progress(`${phase} release`, held.length, 'permits');
    await mapInLanes(held, plan.lanes, async (permit, lane) => {
      await lanes[lane]!.release(permit.runId).catch(fail);
      releasing.tick();
    });
    releasing.done();
    for (const client of lanes) await client.close();
  }
  return { memory, renewMs, waiterAnswers };
}

/** Waits until the newest permits' first workflow task has run (history has WorkflowTaskCompleted), so the worker has them. */
async function untilWorkerRan(env: Environment, newest: HttpHeldLock[]): Promise<void> {
  const started = performance.now();
  for (const permit of newest) {
    const handle = env.client.workflow.getHandle(permit.workflowId, permit.runId);
    while ((await handle.describe()).historyLength < 4) {
      if (performance.now() - started > 120_000) throw new Error('the worker did not run the newest permits within 2 min');
      await sleep(100);
    }
  }
}

/** The whole aging phase; starts and stops its own two environments. */
export async function runAging(phase: string, plan: AgingPlan): Promise<AgingResult> {
  const resourceCapacities = `${POOL}=${poolCapacity(plan.memory)}`;
  say(`${phase}: starting two environments, one to stay fresh and one to age`);
  const fresh = await startEnvironment({ resourceCapacities, serviceEnv: agingServiceEnv(plan) });
  const aged = await startEnvironment({ resourceCapacities, serviceEnv: agingServiceEnv(plan) });
  let fillErrors = 0;
  const firstErrors: string[] = [];
  const fail = (error: unknown) => {
    fillErrors += 1;
    if (firstErrors.length < 5) firstErrors.push(describeError(error));
  };
  try {
    const sizes: DatabaseSize[] = [await databaseSize(aged, 0)];
    let started = performance.now();
    const realPermitsMade = await realPermits(`${phase} real permits`, aged.serviceUrl, plan.realPermits, plan.realLanes, plan.resources, fail);
    const realPerSecond = (realPermitsMade * 1000) / (performance.now() - started);
    sizes.push(await databaseSize(aged, realPermitsMade));

    const agedRunIds: string[] = [];
    const freshRunIds: string[] = [];
    started = performance.now();
    const chunk = Math.max(1, Math.round((plan.closedPermits - plan.realPermits) / 9));
    let rawPermitsMade = 0;
    while (rawPermitsMade < plan.closedPermits - plan.realPermits) {
      const count = Math.min(chunk, plan.closedPermits - plan.realPermits - rawPermitsMade);
      rawPermitsMade += await rawPermits(`${phase} raw closed permits`, aged.client, count, plan.rawLanes, plan.resources, rawPermitsMade, fail, agedRunIds);
      sizes.push(await databaseSize(aged, realPermitsMade + rawPermitsMade));
    }
    const rawPerSecond = (rawPermitsMade * 1000) / (performance.now() - started);
    // The fresh server gets as many closed runs as are looked up, so both lookups find what they look for.
    await rawPermits(`${phase} closed permits to look up on the fresh server`, fresh.client, plan.lookups, plan.rawLanes, plan.resources, 0, fail, freshRunIds);
    const visibilitySettleMs = await untilVisibilityCounts(phase, aged.client, realPermitsMade + rawPermitsMade);
    say(`${phase}: visibility counted every closed permit ${(visibilitySettleMs / 1000).toFixed(1)} s after the last one`);

    const freshClient = new HttpLockClient(new KeepAliveHttp(fresh.serviceUrl, 1));
    const agedClient = new HttpLockClient(new KeepAliveHttp(aged.serviceUrl, 1));
    const cycles = await measureCycles(
      `${phase} cycles, fresh and aged interleaved`,
      [
        { label: 'fresh', client: freshClient, resource: resourceName(0) },
        { label: 'aged', client: agedClient, resource: resourceName(0) },
      ],
      plan.cycles,
    );
    await freshClient.close();
    await agedClient.close();

    const lookupStatuses: Record<string, number> = {};
    const lookupMs = await interleavedGets(
      `${phase} status of closed permits the replica did not grant`,
      fresh.http,
      aged.http,
      { fresh: sample(freshRunIds, plan.lookups).map((id) => `/permits/${id}`), aged: sample(agedRunIds, plan.lookups).map((id) => `/permits/${id}`) },
      lookupStatuses,
    );
    const viewPaths = Array.from({ length: plan.views }, () => `/resources?prefix=${resourceName(0).slice(0, -1)}`);
    const viewMs = await interleavedGets(`${phase} resources with holders`, fresh.http, aged.http, { fresh: viewPaths, aged: viewPaths });
    await aged.stop();

    let memoryErrors = 0;
    let memoryFailure: string | undefined;
    const partial: Pick<AgingResult, 'memory' | 'renewMs' | 'waiterAnswers'> = { memory: [], renewMs: { oldest: [], newest: [] }, waiterAnswers: {} };
    // A failure here keeps the figures above (minutes of work) and what memory was read before it.
    const { memory, renewMs, waiterAnswers } = await measureMemory(`${phase} memory`, fresh, plan.memory, (error) => {
      memoryErrors += 1;
      fail(error);
    }, partial).catch((error: unknown) => {
      memoryFailure = describeError(error);
      say(`${phase} memory failed: ${memoryFailure}`);
      return partial;
    });
    return {
      sizes,
      realPermitsMade,
      rawPermitsMade,
      fillErrors,
      firstErrors,
      realPerSecond,
      rawPerSecond,
      visibilitySettleMs,
      cycles: { fresh: cycles.get('fresh')!, aged: cycles.get('aged')! },
      lookupMs,
      lookupStatuses,
      viewMs,
      memory,
      renewMs,
      waiterAnswers,
      memoryErrors,
      memoryFailure,
    };
  } finally {
    await aged.stop();
    await fresh.stop();
  }
}

/** Target of issue 12: the acquire p50 on the aged server at most this many times the fresh one's. */
export const AGED_VS_FRESH_TARGET = 1.2;

type Check = (name: string, target: string, measured: string, result: { met: boolean; text: string }) => string;

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MB`;

/** Bytes the database grew per 10,000 closed permits between two readings. */
function perTenThousand(from: DatabaseSize | undefined, to: DatabaseSize | undefined): number | undefined {
  if (!from || !to || to.closed <= from.closed) return undefined;
  return ((to.bytes - from.bytes) / (to.closed - from.closed)) * 10_000;
}

/** The aging rows (database size, aged against fresh, memory, renewals), the target check, and notes. */
export function agingRows(result: AgingResult, check: Check, rows: Row[], notes: string[]): void {
  const { sizes } = result;
  const real = perTenThousand(sizes[0], sizes[1]);
  const raw = perTenThousand(sizes[1], sizes.at(-1));
  const closed = sizes.at(-1)!;
  rows.push({
    scenario: 'database size per 10,000 closed permits (embedded SQLite + WAL)',
    system: 'service: acquire + release',
    throughput: real === undefined ? 'not measured' : mb(real),
  });
  rows.push({
    scenario: 'database size per 10,000 closed permits (embedded SQLite + WAL)',
    system: 'raw: start + terminate, no workflow task',
    throughput: raw === undefined ? 'not measured' : `${mb(raw)}; ${mb(closed.bytes)} at ${closed.closed.toLocaleString('en-US')} closed`,
  });

  const fresh = summarize(result.cycles.fresh.acquireMs);
  const aged = summarize(result.cycles.aged.acquireMs);
  const growth = ratio(aged.p50, fresh.p50);
  const met = growth !== undefined && growth <= AGED_VS_FRESH_TARGET;
  const heldClosed = `${(result.realPermitsMade + result.rawPermitsMade).toLocaleString('en-US')} closed permits`;
  rows.push({ scenario: 'acquire on a fresh server (interleaved with the next row)', system: 'service: POST acquire', p50: fresh.p50, p99: fresh.p99 });
  rows.push({
    scenario: `acquire on a server holding ${heldClosed}`,
    system: 'service: POST acquire',
    p50: aged.p50,
    p99: aged.p99,
    vsRaw: `${formatRatio(growth)} the fresh p50`,
    target: `p50 ≤ ${AGED_VS_FRESH_TARGET}× fresh`,
    met: check('aged acquire p50 vs fresh', `≤ ${AGED_VS_FRESH_TARGET}×`, formatRatio(growth), {
      met,
      text: met ? 'yes' : growth === undefined ? 'no: not measured' : `no: ${formatRatio(growth)}, ${Math.round((growth / AGED_VS_FRESH_TARGET - 1) * 100)}% over ${AGED_VS_FRESH_TARGET}×`,
    }),
  });
  const pair = (scenario: string, system: string, samples: { fresh: number[]; aged: number[] }) => {
    if (samples.fresh.length === 0 || samples.aged.length === 0) return;
    const f = summarize(samples.fresh);
    const a = summarize(samples.aged);
    rows.push({ scenario: `${scenario}, fresh server`, system, p50: f.p50, p99: f.p99 });
    rows.push({ scenario: `${scenario}, ${heldClosed}`, system, p50: a.p50, p99: a.p99, vsRaw: `${formatRatio(ratio(a.p50, f.p50))} the fresh p50` });
  };
  pair('status of a closed permit this replica did not grant (visibility lookup by runId)', 'service: GET /permits/{runId}', result.lookupMs);
  pair('resources with holders (visibility list of running permits)', 'service: GET /resources?prefix=…', result.viewMs);

  for (const reading of result.memory) {
    rows.push({
      scenario: `memory with ${reading.held.toLocaleString('en-US')} held permits${reading.waiters ? ` and ${reading.waiters.toLocaleString('en-US')} waiters` : ''}`,
      system: 'service RSS; dev server RSS',
      throughput: `${mb(reading.serviceRssBytes)}; ${mb(reading.serverRssBytes)}; ${reading.cachedWorkflows ?? '?'} runs in the worker cache`,
    });
  }
  const byHeld = result.memory.filter((reading) => reading.waiters === 0);
  const [low, high] = [byHeld[1] ?? byHeld[0], byHeld.at(-1)];
  const withWaiters = result.memory.find((reading) => reading.waiters > 0);
  if (low && high && high.held > low.held) {
    const perPermit = (high.serviceRssBytes - low.serviceRssBytes) / (high.held - low.held);
    const perPermitServer = (high.serverRssBytes - low.serverRssBytes) / (high.held - low.held);
    const perWaiter = withWaiters ? (withWaiters.serviceRssBytes - high.serviceRssBytes) / withWaiters.waiters : undefined;
    notes.push(
      `aging memory: from ${low.held} to ${high.held} held permits the service's RSS grew ${(perPermit / 1024).toFixed(1)} KB per permit ` +
        `(worker cache ${low.cachedWorkflows ?? '?'} → ${high.cachedWorkflows ?? '?'} runs) and the dev server's ${(perPermitServer / 1024).toFixed(1)} KB; ` +
        `${perWaiter === undefined ? 'no waiter reading' : `each waiter added ${(perWaiter / 1024).toFixed(1)} KB to the service`} (RSS, single readings: noisy)`,
    );
  }
  if (result.renewMs.oldest.length > 0 && result.renewMs.newest.length > 0) {
    const oldest = summarize(result.renewMs.oldest);
    const newest = summarize(result.renewMs.newest);
    rows.push({ scenario: `renew one of ${high?.held.toLocaleString('en-US') ?? '?'} held permits, newest (in the worker cache)`, system: 'service: POST renew', p50: newest.p50, p99: newest.p99 });
    rows.push({
      scenario: `renew one of ${high?.held.toLocaleString('en-US') ?? '?'} held permits, oldest (evicted once the cache is full)`,
      system: 'service: POST renew',
      p50: oldest.p50,
      p99: oldest.p99,
      vsRaw: `${formatRatio(ratio(oldest.p50, newest.p50))} the newest`,
    });
  }
  notes.push(`aging memory: the waiters' acquires ended ${JSON.stringify(result.waiterAnswers)} (cancelled at the end, normally)`);
  if (result.memoryFailure) notes.push(`aging memory stopped early: ${result.memoryFailure}`);
  const cycleGrowth = ratio(summarize(result.cycles.aged.cycleMs).p50, summarize(result.cycles.fresh.cycleMs).p50);
  notes.push(
    `aging: ${result.realPermitsMade} closed permits through the service (${result.realPerSecond.toFixed(0)}/s), then ${result.rawPermitsMade} with the raw SDK ` +
      `(${result.rawPerSecond.toFixed(0)}/s); visibility counted them all ${(result.visibilitySettleMs / 1000).toFixed(1)} s after the last; ` +
      `the whole acquire+release cycle's p50 was ${formatRatio(cycleGrowth)} the fresh one; lookup answers ${JSON.stringify(result.lookupStatuses)}` +
      (result.fillErrors > 0 ? `; ${result.fillErrors} errors, e.g. ${result.firstErrors[0]}` : ''),
  );
  notes.push(
    `aging database (closed permits → file + WAL): ${sizes.map((size) => `${size.closed.toLocaleString('en-US')} → ${mb(size.bytes)} (WAL ${mb(size.walBytes)})`).join(', ')}; ` +
      'most of it is visibility (its row and some 40 indexes per run); SQLite reuses pages retention frees, but the file does not shrink',
  );
}
