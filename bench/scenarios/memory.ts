// Memory of the service and its embedded server as held permits, then waiters, grow on one pool: what a
// held permit and a waiter cost, and renewals of the oldest and newest held permits (the worker's cache
// keeps the most recently used runs). A fresh environment of its own, with nothing else running.
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEnvironment, type Environment } from '../environment.js';
import { KeepAliveHttp } from '../http-client.js';
import { progress, say } from '../progress.js';
import { formatMB, formatRatio, type Row } from '../report.js';
import { scrapeMetrics, total } from '../service-metrics.js';
import { describeError, mapInLanes } from '../settle.js';
import { HttpLockClient, type HttpHeldLock } from '../systems/http-service.js';
import { ratio, summarize } from '../stats.js';
import { processUsage } from '../process-usage.js';
import { untilWorkerCaughtUp } from './occupancy.js';

export interface MemoryPlan {
  /** Held permits at which memory is read; the last, the most, fills the pool, so the waiters wait. */
  heldLevels: number[];
  waiters: number;
  lanes: number;
  /**
   * Renewals timed on the oldest held permits and on the newest. Without the start delay the oldest are
   * the first evicted from the worker's cache; with it no held permit is in the cache before its first
   * renewal, so both are first renewals.
   */
  renewals: number;
}

export interface MemoryReading {
  held: number;
  waiters: number;
  serviceRssBytes: number;
  serverRssBytes: number;
  /** Permit runs in the worker's cache (lock_worker_cached_workflows). */
  cachedWorkflows: number | undefined;
}

/** What the memory phase read; a failure part-way keeps what was read before it. */
export interface MemoryFigures {
  memory: MemoryReading[];
  /** Renewal latency of the oldest held permits and of the newest. */
  renewMs: { oldest: number[]; newest: number[] };
  /** How the waiters' acquires ended, by HTTP status (cancelled at the end, normally). */
  waiterAnswers: Record<string, number>;
}

export interface MemoryResult extends MemoryFigures {
  errors: number;
  firstErrors: string[];
  /** Why the phase stopped early, if it did; the figures before it stand. */
  failure?: string;
}

const POOL = 'bench-memory-pool';
const FILL_LEASE_MS = 1_800_000;
const WAITER_BATCH = 100;

const poolCapacity = (plan: MemoryPlan) => Math.max(...plan.heldLevels);

async function rssBytes(pid: number): Promise<number> {
  const usage = await processUsage(pid);
  if (!usage) throw new Error(`cannot read the memory of process ${pid}`);
  return usage.rssMiB * 2 ** 20;
}

/** Memory of the environment's service and server as held permits and then waiters grow. */
async function measureMemory(
  phase: string,
  env: Environment,
  plan: MemoryPlan,
  fail: (error: unknown) => void,
  into: MemoryFigures,
): Promise<MemoryFigures> {
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
      // Until the worker has the newest permits (or the start delay leaves it nothing to run or cache).
      await untilWorkerCaughtUp(`${phase} settle at ${level}`, env.client, held.slice(-8), 120_000);
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

/** The memory phase; starts and stops its own environment. */
export async function runMemory(phase: string, plan: MemoryPlan): Promise<MemoryResult> {
  const env = await startEnvironment({
    resourceCapacities: `${POOL}=${poolCapacity(plan)}`,
    // Far more waiters and requests than one caller normally may.
    serviceEnv: { RATE_LIMIT_PER_SECOND: '0', MAX_WAITERS_PER_KEY: String(plan.waiters * 2), MAX_WAITERS_PER_RESOURCE: String(plan.waiters * 2) },
  });
  const result: MemoryResult = { memory: [], renewMs: { oldest: [], newest: [] }, waiterAnswers: {}, errors: 0, firstErrors: [] };
  const fail = (error: unknown) => {
    result.errors += 1;
    if (result.firstErrors.length < 5) result.firstErrors.push(describeError(error));
  };
  try {
    await measureMemory(phase, env, plan, fail, result);
  } catch (error) {
    result.failure = describeError(error);
    say(`${phase} failed: ${result.failure}`);
  } finally {
    await env.stop();
  }
  return result;
}

/** The memory rows (RSS by held permits and waiters, renewals) and notes. */
export function memoryRows(result: MemoryResult, rows: Row[], notes: string[]): void {
  for (const reading of result.memory) {
    rows.push({
      scenario: `memory with ${reading.held.toLocaleString('en-US')} held permits${reading.waiters ? ` and ${reading.waiters.toLocaleString('en-US')} waiters` : ''}`,
      system: 'service RSS; dev server RSS',
      throughput: `${formatMB(reading.serviceRssBytes)}; ${formatMB(reading.serverRssBytes)}; ${reading.cachedWorkflows ?? '?'} runs in the worker cache`,
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
      `memory: from ${low.held} to ${high.held} held permits the service's RSS grew ${(perPermit / 1024).toFixed(1)} KB per permit ` +
        `(worker cache ${low.cachedWorkflows ?? '?'} → ${high.cachedWorkflows ?? '?'} runs) and the dev server's ${(perPermitServer / 1024).toFixed(1)} KB; ` +
        `${perWaiter === undefined ? 'no waiter reading' : `each waiter added ${(perWaiter / 1024).toFixed(1)} KB to the service`} (RSS, single readings: noisy)`,
    );
  }
  if (result.renewMs.oldest.length > 0 && result.renewMs.newest.length > 0) {
    const oldest = summarize(result.renewMs.oldest);
    const newest = summarize(result.renewMs.newest);
    rows.push({ scenario: `renew one of ${high?.held.toLocaleString('en-US') ?? '?'} held permits, the newest`, system: 'service: POST renew', p50: newest.p50, p99: newest.p99 });
    rows.push({
      scenario: `renew one of ${high?.held.toLocaleString('en-US') ?? '?'} held permits, the oldest`,
      system: 'service: POST renew',
      p50: oldest.p50,
      p99: oldest.p99,
      vsRaw: `${formatRatio(ratio(oldest.p50, newest.p50))} the newest`,
    });
  }
  notes.push(`memory: the waiters' acquires ended ${JSON.stringify(result.waiterAnswers)} (cancelled at the end, normally)`);
  if (result.failure) notes.push(`memory stopped early: ${result.failure}`);
  if (result.errors > 0) notes.push(`memory: ${result.errors} errors, e.g. ${result.firstErrors[0] ?? '?'}`);
}
