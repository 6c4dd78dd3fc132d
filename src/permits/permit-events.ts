import { WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { parsePermitWorkflowId } from '../temporal/permit-id.js';
import { endStateOf, isHeld, permitFromRun, type Permit } from './permit.js';
import type { ResourceDirectory } from './resource-directory.js';
import type { TemporalRpc } from './temporal-rpc.js';

/** A permit that ended, as an event names it. */
export interface EndedPermit {
  runId: string;
  resource: string;
  slot: number;
  holder: string | null;
}

/** What /events streams. `at` is this replica's clock when it learned of it. */
export type PermitEvent =
  | { type: 'granted'; at: string; permit: Permit }
  | { type: 'renewed'; at: string; permit: Permit }
  | ({ type: 'released'; at: string } & EndedPermit)
  | ({ type: 'expired'; at: string } & EndedPermit)
  /** A periodic read of visibility: resources whose holders changed since the last one, wherever that happened. */
  | { type: 'refresh'; at: string; changed: string[]; complete: boolean };

export type PermitEventListener = (event: PermitEvent) => void;

export interface PermitEventsOptions {
  rpc: TemporalRpc;
  directory: ResourceDirectory;
  /** How often visibility is read while anyone listens (EVENTS_REFRESH_MS). */
  refreshMs: number;
  metrics: Metrics;
  log: Logger;
}

/** A tracked permit's lease end is checked this long after it, when its run has usually closed. */
const LEASE_END_CHECK_DELAY_MS = 250;
/** After a failed check (Temporal unreachable), the next one waits this long. */
const CHECK_RETRY_MS = 1_000;

/**
 * The events of this replica's permits (grants, releases, renewals, expiries) for whoever listens,
 * plus a periodic refresh from visibility that shows what other replicas did. Nothing is tracked
 * and nothing is read while nobody listens.
 *
 * Expiries: a permit granted or renewed here while someone listens is checked at its lease end
 * (one describe) unless it was released here first; the describe tells an expiry from a renewal or
 * release on another replica.
 */
export class PermitEvents {
  private readonly listeners = new Set<PermitEventListener>();
  private readonly tracked = new Map<string, Permit>();
  private checkTimer: NodeJS.Timeout | undefined;
  private checkDueAt = Infinity;
  private refreshTimer: NodeJS.Timeout | undefined;
  private lastFingerprints: Map<string, string> | undefined;
  private closed = false;

  constructor(private readonly options: PermitEventsOptions) {}

  /** Adds a listener; the returned function removes it. */
  subscribe(listener: PermitEventListener): () => void {
    this.listeners.add(listener);
    this.options.metrics.eventStreams.set(this.listeners.size);
    if (this.listeners.size === 1) this.scheduleRefresh(0);
    return () => {
      this.listeners.delete(listener);
      this.options.metrics.eventStreams.set(this.listeners.size);
      if (this.listeners.size === 0) this.idle();
    };
  }

  /** Stops the timers; called once at shutdown. */
  close(): void {
    this.closed = true;
    this.idle();
  }

  /** A permit was granted through this replica. */
  granted(permit: Permit): void {
    if (!this.listening()) return;
    this.track(permit);
    this.publish({ type: 'granted', at: now(), permit });
  }

  /** A permit was renewed through this replica. */
  renewed(permit: Permit): void {
    if (!this.listening()) return;
    this.track(permit);
    this.publish({ type: 'renewed', at: now(), permit });
  }

  /** A permit was released through this replica. */
  released(workflowId: string, runId: string, holder: string | null | undefined): void {
    const known = this.tracked.get(runId);
    this.tracked.delete(runId);
    const ended = endedPermit(workflowId, runId, holder ?? known?.holder ?? null);
    if (ended && this.listening()) this.publish({ type: 'released', at: now(), ...ended });
  }

  /** This replica ended a run whose lease had run out (no worker had closed it). */
  expired(workflowId: string, runId: string, holder: string | null): void {
    this.tracked.delete(runId);
    const ended = endedPermit(workflowId, runId, holder);
    if (ended && this.listening()) this.publish({ type: 'expired', at: now(), ...ended });
  }

  private listening(): boolean {
    return this.listeners.size > 0 && !this.closed;
  }

  private publish(event: PermitEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.log.warn({ err: error }, 'an event listener failed');
      }
    }
  }

  private idle(): void {
    clearTimeout(this.refreshTimer);
    clearTimeout(this.checkTimer);
    this.refreshTimer = undefined;
    this.checkTimer = undefined;
    this.checkDueAt = Infinity;
    this.tracked.clear();
    this.lastFingerprints = undefined;
  }

  private track(permit: Permit): void {
    this.tracked.set(permit.runId, permit);
    this.scheduleCheck(Date.parse(permit.expiresAt) + LEASE_END_CHECK_DELAY_MS);
  }

  private scheduleCheck(at: number): void {
    if (at >= this.checkDueAt) return;
    clearTimeout(this.checkTimer);
    this.checkDueAt = at;
    this.checkTimer = setTimeout(() => void this.checkLeaseEnds(), Math.max(0, at - Date.now()));
  }

  /** Looks at each tracked permit whose lease end has passed: expired, renewed or released elsewhere. */
  private async checkLeaseEnds(): Promise<void> {
    this.checkTimer = undefined;
    this.checkDueAt = Infinity;
    const due = [...this.tracked.values()].filter((permit) => Date.parse(permit.expiresAt) + LEASE_END_CHECK_DELAY_MS <= Date.now());
    for (const permit of due) {
      if (!this.listening()) return;
      try {
        await this.checkLeaseEnd(permit);
      } catch (error) {
        this.options.log.debug({ err: error, runId: permit.runId }, 'could not check a lease end for /events; trying again');
        this.scheduleCheck(Date.now() + CHECK_RETRY_MS);
        return;
      }
    }
    const next = Math.min(...[...this.tracked.values()].map((permit) => Date.parse(permit.expiresAt) + LEASE_END_CHECK_DELAY_MS));
    if (Number.isFinite(next)) this.scheduleCheck(next);
  }

  private async checkLeaseEnd(permit: Permit): Promise<void> {
    const { rpc } = this.options;
    let run;
    try {
      run = await rpc.call(() => rpc.client.workflow.getHandle(permit.workflowId, permit.runId).describe());
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      this.tracked.delete(permit.runId);
      return;
    }
    // Released by this replica while the describe was under way: that event has gone out already.
    if (!this.tracked.has(permit.runId)) return;
    if (isHeld(run)) {
      // The same run, so the same fencing number.
      const held = permitFromRun({ ...run, workflowId: permit.workflowId, runId: permit.runId }, run.memo, permit.fencingSeq);
      // Renewed on another replica: keep following it until its new lease end.
      this.tracked.set(held.runId, held);
      this.publish({ type: 'renewed', at: now(), permit: held });
      return;
    }
    this.tracked.delete(permit.runId);
    const type = endStateOf(run);
    this.publish({ type, at: now(), runId: permit.runId, resource: permit.resource, slot: permit.slot, holder: permit.holder });
  }

  private scheduleRefresh(delayMs: number): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), delayMs);
  }

  /** One scan of visibility; resources whose holders differ from the last scan are named as changed. */
  private async refresh(): Promise<void> {
    try {
      const scan = await this.options.directory.scan();
      if (!this.listening()) return;
      const previous = this.lastFingerprints ?? new Map<string, string>();
      const names = new Set([...previous.keys(), ...scan.fingerprints.keys()]);
      const changed = [...names].filter((name) => previous.get(name) !== scan.fingerprints.get(name)).sort();
      this.lastFingerprints = scan.fingerprints;
      this.publish({ type: 'refresh', at: now(), changed, complete: scan.complete });
    } catch (error) {
      this.options.log.warn({ err: error }, 'the /events refresh could not read Temporal visibility; trying at the next one');
    } finally {
      if (this.listening()) this.scheduleRefresh(this.options.refreshMs);
    }
  }
}

function now(): string {
  return new Date().toISOString();
}

function endedPermit(workflowId: string, runId: string, holder: string | null): EndedPermit | undefined {
  const parsed = parsePermitWorkflowId(workflowId);
  return parsed && { runId, resource: parsed.resource, slot: parsed.slot, holder };
}
