// Acquire latency on a large resource as it fills up. The fill permits are taken through the
// service (whatever way it finds free slots), then single acquires are timed at each level, each
// followed by its release so the level stays put. The service's own count of workflow starts
// tried per acquire explains the figures.
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeepAliveHttp } from '../http-client.js';
import { progress } from '../progress.js';
import { scrapeMetrics, startAttemptsBetween } from '../service-metrics.js';
import { describeError, mapInLanes } from '../settle.js';
import { HttpLockClient, type HttpHeldLock } from '../systems/http-service.js';

export interface OccupancyPlan {
  capacity: number;
  /** Percentages of the capacity held while measuring, in increasing order. */
  levels: number[];
  samples: number;
  /** Untimed acquires at each level first: right after a burst of fills (or of another phase) the server is still settling. */
  warmup: number;
  fillLanes: number;
  fillLeaseMs: number;
  fillWaitMs: number;
}

export interface OccupancyLevel {
  percent: number;
  held: number;
  acquireMs: number[];
  /** Workflow starts the service tried per timed acquire, from its Prometheus counter; undefined if it has none. */
  startAttemptsPerAcquire: number | undefined;
  busyAnswers: number;
  errors: number;
  firstErrors: string[];
}

export interface OccupancyResult {
  levels: OccupancyLevel[];
  /** How long filling took in all, and how many fill acquires failed. */
  fillMs: number;
  /** After each level's fill, how long until the worker had run the first task of the newest fills. */
  settleMs: number[];
  fillErrors: number;
  releaseErrors: number;
}

/** Fills `resource` level by level and times acquires at each level; releases everything at the end. */
export async function runOccupancy(
  phase: string,
  serviceUrl: string,
  metricsHttp: KeepAliveHttp,
  temporal: Client,
  resource: string,
  plan: OccupancyPlan,
): Promise<OccupancyResult> {
  const lanes = Array.from({ length: plan.fillLanes }, () => new HttpLockClient(new KeepAliveHttp(serviceUrl, 1)));
  const measurer = new HttpLockClient(new KeepAliveHttp(serviceUrl, 1));
  const fills: HttpHeldLock[] = [];
  const levels: OccupancyLevel[] = [];
  let fillMs = 0;
  const settleMs: number[] = [];
  let fillErrors = 0;
  let releaseErrors = 0;
  try {
    for (const percent of plan.levels) {
      const target = Math.round((plan.capacity * percent) / 100);
      const missing = Math.max(0, target - fills.length);
      if (missing > 0) {
        const filling = progress(`${phase} fill to ${percent}%`, missing, 'permits');
        const started = performance.now();
        await mapInLanes(Array.from({ length: missing }), plan.fillLanes, async (_, lane) => {
          try {
            fills.push(
              await lanes[lane]!.acquire({ resource, capacity: plan.capacity, leaseMs: plan.fillLeaseMs, waitMs: plan.fillWaitMs }),
            );
          } catch {
            fillErrors += 1;
          }
          filling.tick();
        });
        fillMs += performance.now() - started;
        filling.done(`${fills.length} held`);
        settleMs.push(await untilWorkerCaughtUp(`${phase} settle at ${percent}%`, temporal, fills.slice(-SETTLE_PROBES)));
      }
      levels.push(await measureLevel(`${phase} at ${percent}%`, measurer, metricsHttp, resource, percent, fills.length, plan));
    }
  } finally {
    const releasing = progress(`${phase} release`, fills.length, 'permits');
    await mapInLanes(fills, plan.fillLanes, async (held, lane) => {
      try {
        await lanes[lane]!.release(held.runId);
      } catch {
        releaseErrors += 1;
      }
      releasing.tick();
    });
    releasing.done();
    for (const client of [...lanes, measurer]) await client.close();
  }
  return { levels, fillMs, settleMs, fillErrors, releaseErrors };
}

/** The newest fills checked for their first workflow task; the worker takes tasks in about the order started. */
const SETTLE_PROBES = 8;
const SETTLE_TIMEOUT_MS = 60_000;

/**
 * A burst of hundreds of starts leaves the worker a backlog of first workflow tasks (each starts the
 * lease timer) that takes seconds to drain; acquires timed during it would measure the burst, not the
 * occupancy. Waits until the newest fills' first task has completed (history has WorkflowTaskCompleted).
 * A run whose first task waits for its start delay (PERMIT_START_DELAY=lease) leaves no backlog.
 */
export async function untilWorkerCaughtUp(phase: string, temporal: Client, newest: HttpHeldLock[], timeoutMs = SETTLE_TIMEOUT_MS): Promise<number> {
  const shown = progress(phase, newest.length, 'permits past their first workflow task');
  const started = performance.now();
  for (const held of newest) {
    const handle = temporal.workflow.getHandle(held.workflowId, held.runId);
    while (!firstTaskDoneOrDeferred(await handle.describe())) {
      if (performance.now() - started > timeoutMs) throw new Error(`${phase}: the worker did not catch up in ${timeoutMs} ms`);
      await sleep(50);
    }
    shown.tick();
  }
  const settled = performance.now() - started;
  shown.done(`${(settled / 1000).toFixed(1)} s`);
  return settled;
}

function firstTaskDoneOrDeferred(run: WorkflowExecutionDescription): boolean {
  const info = run.raw.workflowExecutionInfo;
  const deferred = Number(info?.executionTime?.seconds ?? 0) > Number(info?.startTime?.seconds ?? 0);
  return deferred || run.historyLength >= 4;
}

async function measureLevel(
  phase: string,
  client: HttpLockClient,
  metricsHttp: KeepAliveHttp,
  resource: string,
  percent: number,
  held: number,
  plan: OccupancyPlan,
): Promise<OccupancyLevel> {
  const shown = progress(phase, plan.samples, 'acquires');
  const acquireMs: number[] = [];
  const firstErrors: string[] = [];
  let busyAnswers = 0;
  let errors = 0;
  for (let index = 0; index < plan.warmup; index++) {
    try {
      await client.release((await client.acquire({ resource, capacity: plan.capacity, leaseMs: 30_000, waitMs: 0 })).runId);
    } catch {
      // counted when it happens in the timed part
    }
  }
  const before = await scrapeMetrics(metricsHttp);
  for (let index = 0; index < plan.samples; index++) {
    const started = performance.now();
    try {
      // waitMs 0: a free slot always exists here, so a busy answer is a finding, not a reason to wait.
      const permit = await client.acquire({ resource, capacity: plan.capacity, leaseMs: 30_000, waitMs: 0 });
      acquireMs.push(performance.now() - started);
      await client.release(permit.runId);
    } catch (error) {
      const busy = describeError(error).includes('resource_busy');
      if (busy) busyAnswers += 1;
      else errors += 1;
      if (firstErrors.length < 5) firstErrors.push(describeError(error));
    }
    shown.tick();
  }
  const attempts = startAttemptsBetween(before, await scrapeMetrics(metricsHttp));
  const tried = acquireMs.length + busyAnswers;
  const startAttemptsPerAcquire = attempts === undefined || tried === 0 ? undefined : attempts / tried;
  shown.done(startAttemptsPerAcquire === undefined ? undefined : `${startAttemptsPerAcquire.toFixed(1)} start attempts per acquire`);
  return { percent, held, acquireMs, startAttemptsPerAcquire, busyAnswers, errors, firstErrors };
}
