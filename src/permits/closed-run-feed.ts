import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { PERMIT_WORKFLOW_TYPE } from '../temporal/messages.js';
import { RESOURCE_NAME_PATTERN, parsePermitWorkflowId, permitWorkflowId } from '../temporal/permit-id.js';
import { retryDelayMs } from './retry-delay.js';
import type { TemporalRpc } from './temporal-rpc.js';

// A slot freed on another replica reaches a waiter here through a watch (a few slots per resource) or
// the probe (a few starts per interval), so on a pool of thousands of slots the probe alone could take
// minutes to come across it. Temporal visibility lists the permit runs that closed lately whatever the
// capacity: one query per interval, for every resource waited on here at once, tells the waiters which
// slots to try first. It stays a hint: visibility lags, and a listed slot may have been taken again
// since; the atomic workflow start still judges.

/** A permit run that closed: its slot may be free now. */
export interface ClosedPermitRun {
  resource: string;
  slot: number;
  runId: string;
  /** When it closed, by the Temporal server's clock. */
  closedAtMs: number;
}

/** One look names at most this many resources; more take turns, the longest unlooked first. */
export const MAX_RESOURCES_PER_LOOK = 16;
/** Of one resource, a look hints at most this many slots: its newest closes, the likeliest still free. */
export const MAX_CLOSES_PER_RESOURCE = 16;
/** One look reads one page of this many closed runs, newest first. */
const PAGE_SIZE = 200;
/**
 * Each look goes back this far before the previous one: visibility records a close a moment after it
 * happens (a close recorded late would otherwise fall between two looks), and the replica's clock,
 * which sets the bound, may differ from the server's, which stamps the close. Closes seen before are
 * not hinted twice.
 */
export const LOOK_OVERLAP_MS = 10_000;
/** Runs remembered as seen, at most (the oldest are forgotten first). */
const SEEN_LIMIT = 50_000;
/** After a failed look (visibility unavailable or rate-limited), the next waits longer, up to this. */
const MAX_RETRY_MS = 30_000;

/**
 * The visibility query for the permit runs of `resources` that closed after `since`. Resource names
 * are interpolated, so anything but a valid name is refused here.
 */
export function closedRunsQuery(resources: readonly string[], since: Date): string {
  if (resources.length === 0) throw new RangeError('a look names at least one resource');
  const prefixes = resources.map((resource) => {
    if (!RESOURCE_NAME_PATTERN.test(resource)) throw new RangeError(`not a resource name: ${JSON.stringify(resource)}`);
    // The trailing ':' keeps resource "a" from matching the slots of resource "a-b".
    return `WorkflowId STARTS_WITH '${permitWorkflowId(resource, 0).slice(0, -1)}'`;
  });
  return (
    `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND ExecutionStatus != 'Running' AND CloseTime > '${since.toISOString()}'` +
    ` AND (${prefixes.join(' OR ')})`
  );
}

export interface ClosedRunFeedOptions {
  rpc: TemporalRpc;
  /** Mean interval between looks (WAIT_PROBE_MS); each is jittered to 0.5–1 × this. */
  intervalMs: number;
  /**
   * The resources worth a look now: waiters here, and a held slot no watch covers. Undefined when
   * nobody waits on this replica any more: the feed then stops until started again.
   */
  wanted(): string[] | undefined;
  /** A run of a wanted resource closed, not seen before. */
  closed(run: ClosedPermitRun): void;
  metrics: Metrics;
  log: Logger;
}

/**
 * Looks in visibility, once per interval and replica, for permit runs that closed on the resources
 * this replica's waiters wait on, and hands each new close to the waiters' hints. The cost is one
 * visibility query per interval per replica while anyone waits on a pool no watch covers whole,
 * whatever the number of waiters, resources or slots.
 */
export class ClosedRunFeed {
  private timer: NodeJS.Timeout | undefined;
  private looking = false;
  private stopped = false;
  private failures = 0;
  /** When each wanted resource was last looked at, by this replica's clock (when the query was sent). */
  private readonly lastLookAt = new Map<string, number>();
  /** Closed runs already handed on, with their close time, so an overlapping look does not repeat them. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly options: ClosedRunFeedOptions) {}

  /** Starts looking, if not already (a waiter arrived); it stops by itself once nobody waits. */
  start(): void {
    if (this.timer || this.looking || this.stopped) return;
    this.schedule();
  }

  /** Stops for good (shutdown). */
  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const { intervalMs } = this.options;
    const delayMs =
      this.failures > 0
        ? retryDelayMs(this.failures, { firstMs: 2 * intervalMs, maxMs: Math.max(MAX_RETRY_MS, intervalMs) })
        : intervalMs * (0.5 + Math.random() / 2); // jittered like the probe, so replicas do not line up
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const wanted = this.options.wanted();
    if (wanted === undefined || this.stopped) {
      this.lastLookAt.clear();
      return;
    }
    for (const resource of this.lastLookAt.keys()) if (!wanted.includes(resource)) this.lastLookAt.delete(resource);
    if (wanted.length > 0) {
      this.looking = true;
      try {
        await this.look(this.takeTurns(wanted));
      } finally {
        this.looking = false;
      }
    }
    if (!this.stopped) this.schedule();
  }

  /** The resources of this look: those looked at longest ago (never first). */
  private takeTurns(wanted: string[]): string[] {
    const lastLook = (resource: string) => this.lastLookAt.get(resource) ?? -Infinity;
    return [...wanted].sort((a, b) => lastLook(a) - lastLook(b)).slice(0, MAX_RESOURCES_PER_LOOK);
  }

  private async look(resources: string[]): Promise<void> {
    const { rpc, metrics, log } = this.options;
    const sentAt = Date.now();
    const since = Math.min(...resources.map((resource) => this.lastLookAt.get(resource) ?? sentAt)) - LOOK_OVERLAP_MS;
    const query = closedRunsQuery(resources, new Date(since));
    let runs: ClosedPermitRun[];
    try {
      runs = await rpc.call(async () => {
        const listed: ClosedPermitRun[] = [];
        let read = 0;
        for await (const execution of rpc.client.workflow.list({ query, pageSize: PAGE_SIZE })) {
          const slot = parsePermitWorkflowId(execution.workflowId);
          if (slot && execution.closeTime) {
            listed.push({ ...slot, runId: execution.runId, closedAtMs: execution.closeTime.getTime() });
          }
          if (++read >= PAGE_SIZE) break; // one page: the newest closes are the ones likeliest still free
        }
        return listed;
      });
    } catch (error) {
      if (this.stopped) return; // the connection closed under it at shutdown
      this.failures++;
      metrics.closedRunLooks.inc({ result: 'error' });
      // Visibility is only a hint: the probe and the watches go on without it.
      const fields = { err: error, resources: resources.length, failures: this.failures };
      if (this.failures === 1) log.warn(fields, 'a look for closed permit runs failed; waiters rely on the probe until it works again');
      else log.debug(fields, 'a look for closed permit runs failed again');
      return;
    }
    this.failures = 0;
    for (const resource of resources) this.lastLookAt.set(resource, sentAt);
    const handed = this.handOn(runs, new Set(resources));
    metrics.closedRunLooks.inc({ result: handed > 0 ? 'found' : 'none' });
    this.forgetOlderThan(Math.min(sentAt, ...this.lastLookAt.values()) - LOOK_OVERLAP_MS);
  }

  /** Hands on the new closes, at most MAX_CLOSES_PER_RESOURCE per resource (the newest: visibility lists newest first). */
  private handOn(runs: ClosedPermitRun[], resources: Set<string>): number {
    const perResource = new Map<string, number>();
    let handed = 0;
    for (const run of runs) {
      if (!resources.has(run.resource) || this.seen.has(run.runId)) continue;
      const count = perResource.get(run.resource) ?? 0;
      if (count >= MAX_CLOSES_PER_RESOURCE) continue;
      perResource.set(run.resource, count + 1);
      this.remember(run);
      this.options.closed(run);
      handed++;
    }
    return handed;
  }

  private remember(run: ClosedPermitRun): void {
    this.seen.set(run.runId, run.closedAtMs);
    if (this.seen.size > SEEN_LIMIT) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  /** No later look reaches back past `horizon`, so closes before it need not be remembered. */
  private forgetOlderThan(horizon: number): void {
    for (const [runId, closedAtMs] of this.seen) if (closedAtMs < horizon) this.seen.delete(runId);
  }
}
