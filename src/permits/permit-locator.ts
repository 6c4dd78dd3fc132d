import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import { parsePermitWorkflowId } from '../temporal/permit-id.js';
import { temporalUnavailable } from './errors.js';
import { RUN_ID_PATTERN, isPermitMemo, type Permit } from './permit.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { isTransientTemporalError, toDomainError } from './temporal-errors.js';

/** What every operation on a runId needs first: where the permit lives, and who may act on it. */
export interface PermitIdentity {
  workflowId: string;
  resource: string;
  /** The acquiring API key's name; null when none was recorded. */
  owner: string | null;
}

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
  /** RunIds found in visibility, which this replica has not described since. */
  private readonly found = new Map<string, PermitIdentity>();
  private lookupsInFlight = 0;

  constructor(
    private readonly rpc: TemporalRpc,
    private readonly lookupWaitMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  remember(permit: Permit): void {
    this.found.delete(permit.runId);
    rememberIn(this.known, permit.runId, permit);
  }

  /** The cached permit, if this replica granted or has already looked up this runId. */
  cached(runId: string): Permit | undefined {
    return this.known.get(runId);
  }

  /** The permit's workflow ID, resource and owner, from the cache or from visibility; undefined when Temporal has no such run. */
  async locate(runId: string): Promise<PermitIdentity | undefined> {
    const cached = this.known.get(runId) ?? this.found.get(runId);
    if (cached) return { workflowId: cached.workflowId, resource: cached.resource, owner: cached.owner };
    if (this.lookupsInFlight >= MAX_CONCURRENT_LOOKUPS) {
      throw temporalUnavailable('too many runId lookups in progress on this replica');
    }
    this.lookupsInFlight++;
    const stopTimer = this.metrics.permitLookupSeconds.startTimer();
    let result: 'found' | 'not_found' | 'error' = 'error';
    try {
      const identity = await this.lookUp(runId);
      result = identity ? 'found' : 'not_found';
      return identity;
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
  private async lookUp(runId: string): Promise<PermitIdentity | undefined> {
    // The runId is interpolated into a visibility query, so nothing but a UUID may get this far.
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const deadline = Date.now() + Math.max(this.lookupWaitMs, MIN_LOOKUP_MS);
    const query = `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND RunId = '${runId}'`;
    const { client } = this.rpc;
    for (let attempt = 1; ; attempt++) {
      let identity: PermitIdentity | undefined;
      try {
        identity = await this.rpc.callBy(deadline, async () => {
          for await (const execution of client.workflow.list({ query, pageSize: 1 })) {
            // The memo was set at the start and names the owner; a run without a permit memo belongs to nobody.
            const memo = isPermitMemo(execution.memo) ? execution.memo : undefined;
            const owner = typeof memo?.owner === 'string' ? memo.owner : null;
            const resource = memo?.resource ?? parsePermitWorkflowId(execution.workflowId)?.resource ?? '';
            return { workflowId: execution.workflowId, resource, owner };
          }
          return undefined;
        });
      } catch (error) {
        const failure = toDomainError(error);
        if (!isTransientTemporalError(failure)) throw failure;
        throw temporalUnavailable(
          `the runId lookup in Temporal visibility found no answer within VISIBILITY_LOOKUP_WAIT_MS (${failure.message.replace(/^Temporal is unavailable: /, '')})`,
        );
      }
      if (identity) {
        this.log.debug({ runId, workflowId: identity.workflowId, attempt }, 'runId found in visibility');
        rememberIn(this.found, runId, identity);
        return identity;
      }
      if (Date.now() + LOOKUP_INTERVAL_MS > deadline) return undefined;
      await delay(LOOKUP_INTERVAL_MS);
    }
  }
}

/** Adds to a bounded map; Map keeps insertion order, so re-inserting moves the entry to the young end. */
function rememberIn<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > CACHE_LIMIT) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
