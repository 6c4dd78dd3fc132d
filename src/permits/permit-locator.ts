import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import { temporalUnavailable } from './errors.js';
import { RUN_ID_PATTERN, type Permit } from './permit.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { isTransientTemporalError, toDomainError } from './temporal-errors.js';

const CACHE_LIMIT = 100_000;
const MAX_CONCURRENT_LOOKUPS = 16;
const LOOKUP_INTERVAL_MS = 200;
/** However short VISIBILITY_LOOKUP_WAIT_MS, a lookup's one query gets this long. */
const MIN_LOOKUP_MS = 500;

/**
 * Maps a runId (all a caller sends back) to the permit it belongs to, which names the workflow ID
 * every Temporal call needs. Permits granted by this replica are remembered; any other runId is
 * looked up in Temporal visibility, which lags behind starts, so the lookup retries for a while.
 */
export class PermitLocator {
  private readonly known = new Map<string, Permit>();
  private lookupsInFlight = 0;

  constructor(
    private readonly rpc: TemporalRpc,
    private readonly lookupWaitMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  remember(permit: Permit): void {
    // Map keeps insertion order, so re-inserting moves the entry to the young end.
    this.known.delete(permit.runId);
    this.known.set(permit.runId, permit);
    if (this.known.size > CACHE_LIMIT) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }

  /** The cached permit, if this replica granted or has already looked up this runId. */
  cached(runId: string): Permit | undefined {
    return this.known.get(runId);
  }

  /** The permit's workflow ID, from the cache or from visibility; undefined when Temporal has no such run. */
  async workflowIdOf(runId: string): Promise<string | undefined> {
    const cached = this.known.get(runId);
    if (cached) return cached.workflowId;
    if (this.lookupsInFlight >= MAX_CONCURRENT_LOOKUPS) {
      throw temporalUnavailable('too many runId lookups in progress on this replica');
    }
    this.lookupsInFlight++;
    const stopTimer = this.metrics.permitLookupSeconds.startTimer();
    let result: 'found' | 'not_found' | 'error' = 'error';
    try {
      const workflowId = await this.lookUp(runId);
      result = workflowId ? 'found' : 'not_found';
      return workflowId;
    } finally {
      this.lookupsInFlight--;
      const seconds = stopTimer({ result });
      if (seconds > 1) this.log.warn({ runId, result, lookupMs: Math.round(seconds * 1000) }, 'a runId lookup in Temporal visibility was slow');
    }
  }

  /**
   * Retries while visibility may still lag behind the start, for VISIBILITY_LOOKUP_WAIT_MS in all:
   * every query runs under what is left of that time, so a slow visibility store (a Temporal server
   * that has just restarted) costs the caller at most that long, then a 503 it may retry; never a
   * 404, which would tell a holder its permit does not exist.
   */
  private async lookUp(runId: string): Promise<string | undefined> {
    // The runId is interpolated into a visibility query, so nothing but a UUID may get this far.
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const deadline = Date.now() + Math.max(this.lookupWaitMs, MIN_LOOKUP_MS);
    const query = `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND RunId = '${runId}'`;
    const { client } = this.rpc;
    for (let attempt = 1; ; attempt++) {
      let workflowId: string | undefined;
      try {
        workflowId = await this.rpc.callBy(deadline, async () => {
          for await (const execution of client.workflow.list({ query, pageSize: 1 })) return execution.workflowId;
          return undefined;
        });
      } catch (error) {
        const failure = toDomainError(error);
        if (!isTransientTemporalError(failure)) throw failure;
        throw temporalUnavailable(`the runId lookup in Temporal visibility found no answer within VISIBILITY_LOOKUP_WAIT_MS (${failure.message.replace(/^Temporal is unavailable: /, '')})`);
      }
      if (workflowId) {
        this.log.debug({ runId, workflowId, attempt }, 'runId found in visibility');
        return workflowId;
      }
      if (Date.now() + LOOKUP_INTERVAL_MS > deadline) return undefined;
      await delay(LOOKUP_INTERVAL_MS);
    }
  }
}
