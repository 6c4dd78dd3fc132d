import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import { isHeld, leaseEndMs } from './permit.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { toDomainError } from './temporal-errors.js';

/** A resource that has holders now, as visibility lists them. */
export interface ResourceSummary {
  resource: string;
  /** The capacity its holders were granted under. */
  capacity: number;
  holders: number;
  /** The earliest lease end among its holders; null when it has none (only waiters on this replica). */
  earliestExpiresAt: string | null;
}

/** Every resource with holders now, from one scan of the running permit runs. */
export interface HeldResources {
  resources: Map<string, ResourceSummary>;
  /** Per resource, the runIds and lease ends of its holders: tells a changed resource from an unchanged one. */
  fingerprints: Map<string, string>;
  /** False when the scan stopped at MAX_SCANNED_RUNS before the end of the list. */
  complete: boolean;
}

export interface ResourceListPage {
  resources: Array<ResourceSummary & { waitingHere: number }>;
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
  complete: boolean;
}

/** A scan reads at most this many running permit runs (10 visibility pages). */
export const MAX_SCANNED_RUNS = 10_000;
const SCAN_PAGE_SIZE = 1_000;

/**
 * Which resources have holders: a scan of the running permit runs in Temporal visibility, grouped by
 * resource. Visibility lags behind starts and closes by a moment, so the answer is eventually
 * consistent. A scan costs one visibility call per 1,000 running permits, at most 10.
 */
export class ResourceDirectory {
  constructor(
    private readonly rpc: TemporalRpc,
    /** The acquires waiting on this replica, by resource, with the capacity they wait under. */
    private readonly waitingHere: () => Map<string, { waiting: number; capacity: number }>,
  ) {}

  /** Resources with holders (or waiters on this replica) whose names start with `prefix`, by name, after `cursor`. */
  async list(
    prefix: string,
    limit: number,
    cursor: string | undefined,
    visible: (resource: string) => boolean = () => true,
  ): Promise<ResourceListPage> {
    const held = await this.scan(prefix);
    const waiting = this.waitingHere();
    const names = new Set([...held.resources.keys(), ...[...waiting.keys()].filter((name) => name.startsWith(prefix))]);
    // Filtered before paging, so a key limited to some prefixes gets full pages of its own resources.
    const sorted = [...names].filter((name) => (cursor === undefined || name > cursor) && visible(name)).sort();
    const page = sorted.slice(0, limit).map((resource) => {
      const here = waiting.get(resource);
      const summary = held.resources.get(resource) ?? { resource, capacity: here?.capacity ?? 1, holders: 0, earliestExpiresAt: null };
      return { ...summary, waitingHere: here?.waiting ?? 0 };
    });
    return {
      resources: page,
      nextCursor: sorted.length > limit ? page.at(-1)!.resource : null,
      complete: held.complete,
    };
  }

  /** One scan of the running permit runs whose resource name starts with `prefix`. */
  async scan(prefix = ''): Promise<HeldResources> {
    const query =
      `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'` +
      (prefix ? ` AND WorkflowId STARTS_WITH 'permit:${prefix}'` : '');
    const resources = new Map<string, ResourceSummary>();
    const holders = new Map<string, string[]>();
    let scanned = 0;
    let complete = true;
    const now = Date.now();
    try {
      await this.rpc.call(async () => {
        for await (const execution of this.rpc.client.workflow.list({ query, pageSize: SCAN_PAGE_SIZE })) {
          if (++scanned > MAX_SCANNED_RUNS) {
            complete = false;
            break;
          }
          // A run past its lease that no worker has closed holds nothing.
          if (!isHeld(execution, now)) continue;
          const { memo } = execution;
          if (!memo.resource.startsWith(prefix)) continue;
          const permit = {
            resource: memo.resource,
            capacity: memo.capacity,
            runId: execution.runId,
            expiresAt: new Date(leaseEndMs(execution.startTime, memo)).toISOString(),
          };
          const known = resources.get(permit.resource);
          resources.set(permit.resource, {
            resource: permit.resource,
            capacity: Math.max(known?.capacity ?? 0, permit.capacity),
            holders: (known?.holders ?? 0) + 1,
            earliestExpiresAt:
              known?.earliestExpiresAt && known.earliestExpiresAt < permit.expiresAt ? known.earliestExpiresAt : permit.expiresAt,
          });
          holders.set(permit.resource, [...(holders.get(permit.resource) ?? []), `${permit.runId}@${permit.expiresAt}`]);
        }
      });
    } catch (error) {
      throw toDomainError(error);
    }
    const fingerprints = new Map([...holders].map(([resource, runs]) => [resource, runs.sort().join(',')]));
    return { resources, fingerprints, complete };
  }
}
