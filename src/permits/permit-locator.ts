import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import { temporalUnavailable } from './errors.js';
import { RUN_ID_PATTERN, type Permit } from './permit.js';

const CACHE_LIMIT = 100_000;
const MAX_CONCURRENT_LOOKUPS = 16;
const LOOKUP_INTERVAL_MS = 200;

/**
 * Maps a runId (all a caller sends back) to the permit it belongs to, which names the workflow ID
 * every Temporal call needs. Permits granted by this replica are remembered; any other runId is
 * looked up in Temporal visibility, which lags behind starts, so the lookup retries for a while.
 */
export class PermitLocator {
  private readonly known = new Map<string, Permit>();
  private lookupsInFlight = 0;

  constructor(
    private readonly client: Client,
    private readonly lookupWaitMs: number,
    /** Runs one Temporal call under the service's RPC deadline. */
    private readonly rpc: <T>(call: () => Promise<T>) => Promise<T>,
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
    try {
      return await this.lookUp(runId);
    } finally {
      this.lookupsInFlight--;
    }
  }

  private async lookUp(runId: string): Promise<string | undefined> {
    // The runId is interpolated into a visibility query, so nothing but a UUID may get this far.
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const deadline = Date.now() + this.lookupWaitMs;
    const query = `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND RunId = '${runId}'`;
    for (let attempt = 1; ; attempt++) {
      const workflowId = await this.rpc(async () => {
        for await (const execution of this.client.workflow.list({ query, pageSize: 1 })) return execution.workflowId;
        return undefined;
      });
      if (workflowId) {
        this.log.debug({ runId, workflowId, attempt }, 'runId found in visibility');
        return workflowId;
      }
      if (Date.now() + LOOKUP_INTERVAL_MS > deadline) return undefined;
      await delay(LOOKUP_INTERVAL_MS);
    }
  }
}
