import type { WorkflowExecutionInfo } from '@temporalio/client';
import { PERMIT_WORKFLOW_TYPE, type PermitMemo } from '../temporal/messages.js';
import { permitWorkflowId } from '../temporal/permit-id.js';
import { closedRunKind, needsCloseReason, type PermitOutcome } from './close-reasons.js';
import { closeEventOf } from './close-record.js';
import { mapWithConcurrency } from './map-with-concurrency.js';
import { isPermitMemo } from './permit.js';
import { runTimeOf, type RunTime } from './run-time.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { GRPC_NOT_FOUND, grpcCode, toDomainError } from './temporal-errors.js';
import type { TemporalUiLinks } from './temporal-ui-links.js';

/** One past permit of a resource. */
export interface HistoryEntry {
  runId: string;
  workflowId: string;
  resource: string;
  slot: number;
  capacity: number;
  holder: string | null;
  /** The lease length last granted. */
  leaseMs: number;
  renewals: number;
  /** The later of the run's recorded start and its predecessor's close on the same slot. */
  acquiredAt: string;
  endedAt: string;
  heldMs: number;
  outcome: PermitOutcome;
  /** The terminate reason, for a permit ended by a terminate. */
  reason: string | null;
  /** The run in the Temporal Web UI, when the service knows where that is. */
  temporalUiUrl: string | null;
}

export interface HistoryPage {
  resource: string;
  entries: HistoryEntry[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextBefore: string | null;
}

export interface PermitHistoryOptions {
  rpc: TemporalRpc;
  links: TemporalUiLinks;
}

/** A closed run's place in time on its slot. */
export interface RunSpan {
  workflowId: string;
  runId: string;
  /** The start Temporal recorded for the run. */
  start: RunTime;
  close: RunTime;
}

/** A closed permit run as visibility lists it. */
interface ClosedRecord extends RunSpan {
  slot: number;
  status: string;
  memo: PermitMemo;
}

/**
 * When each run was granted its slot. Temporal stamps a run's start before it checks that the
 * workflow ID is free, so under contention the recorded start can come before the close of the run
 * that held the slot until then (fault injection saw 0.8 s). The grant is the later of the two. Any
 * other run of the same slot that closed after a run's recorded start and before its close was
 * its predecessor: two runs of one workflow ID are never open at once.
 */
export function grantTimesOf(runs: readonly RunSpan[], others: readonly RunSpan[]): Map<string, Date> {
  const granted = new Map<string, Date>();
  for (const run of runs) {
    let grant = run.start;
    for (const other of others) {
      if (other.workflowId !== run.workflowId || other.runId === run.runId) continue;
      if (other.close.nanos > grant.nanos && other.close.nanos < run.close.nanos) grant = other.close;
    }
    granted.set(run.runId, grant.date);
  }
  return granted;
}

/** Close events read at once for one page. */
const CLOSE_READS_AT_ONCE = 16;
/** Closed runs never change, so their terminate reasons are kept; this many, oldest dropped first. */
const REASON_CACHE_LIMIT = 10_000;

/**
 * The past permits of a resource, newest first, from Temporal visibility: a closed `permit:<r>:<s>`
 * run is a past permit. A page costs two visibility lists (the page, and the runs that closed
 * while a page entry's start was being recorded) plus one close-event read per run ended by a
 * terminate whose reason this replica has not read before: at most `limit` reads.
 */
export class PermitHistory {
  private readonly reasons = new Map<string, string | null>();

  constructor(private readonly options: PermitHistoryOptions) {}

  /** Permits of the resource that ended before `before` (all when undefined), newest first. */
  async page(resource: string, limit: number, before: RunTime | undefined): Promise<HistoryPage> {
    try {
      return await this.readPage(resource, limit, before);
    } catch (error) {
      throw toDomainError(error);
    }
  }

  private async readPage(resource: string, limit: number, before: RunTime | undefined): Promise<HistoryPage> {
    const prefix = permitWorkflowId(resource, 0).slice(0, -1);
    const query =
      `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND WorkflowId STARTS_WITH '${prefix}' AND ExecutionStatus != 'Running'` +
      (before ? ` AND CloseTime < '${before.text}'` : '');
    // Visibility lists closed runs by close time, newest first: its default order on SQL and
    // Elasticsearch stores (SQL visibility takes no ORDER BY). A test pins it on the dev server.
    // One more than the page, to know whether an older page exists and where it starts.
    const listed = await this.list(query, limit + 1);
    let page = listed.slice(0, limit);
    let nextBefore: string | null = null;
    if (listed.length > limit) {
      // Runs that closed in the same nanosecond must not be split by a `before` boundary.
      const boundary = listed[limit]!.close.nanos;
      const whole = page.filter((run) => run.close.nanos !== boundary);
      if (whole.length > 0) page = whole;
      nextBefore = page.at(-1)!.close.text;
    }
    const granted = await this.grantTimes(page, listed);
    const reasons = await mapWithConcurrency(page, CLOSE_READS_AT_ONCE, (run) => this.terminateReason(run));
    const entries: HistoryEntry[] = [];
    page.forEach((run, index) => {
      const reason = reasons[index];
      const kind = closedRunKind({
        status: run.status,
        startTime: run.start.date,
        closeTime: run.close.date,
        memo: run.memo,
        terminateReason: reason ?? undefined,
      });
      // A claim nobody was ever told of (answered too late, or withdrawn for a capacity change) was
      // no one's permit: it stays out of the history, though it still delays its successor's grant.
      if (kind === 'undelivered') return;
      const acquiredAt = granted.get(run.runId) ?? run.start.date;
      entries.push({
        runId: run.runId,
        workflowId: run.workflowId,
        resource,
        slot: run.slot,
        capacity: run.memo.capacity,
        holder: run.memo.holder ?? null,
        leaseMs: run.memo.leaseMs,
        renewals: run.memo.renewals ?? 0,
        acquiredAt: acquiredAt.toISOString(),
        endedAt: run.close.date.toISOString(),
        heldMs: Math.max(0, run.close.date.getTime() - acquiredAt.getTime()),
        outcome: kind,
        reason: reason ?? null,
        temporalUiUrl: this.options.links.run(run.workflowId, run.runId) ?? null,
      });
    });
    return { resource, entries, nextBefore };
  }

  /**
   * When each run of the page was granted (see grantTimesOf). The run that held a slot before a
   * page entry is usually on the page too; for the oldest entry of each slot one more list, over
   * every such slot at once, finds it.
   */
  private async grantTimes(page: ClosedRecord[], known: ClosedRecord[]): Promise<Map<string, Date>> {
    const oldestOfSlot = new Map<string, ClosedRecord>();
    for (const run of page) oldestOfSlot.set(run.workflowId, run);
    const open = [...oldestOfSlot.values()].filter(
      (run) => !known.some((other) => other.workflowId === run.workflowId && other.close.nanos < run.close.nanos),
    );
    if (open.length === 0) return grantTimesOf(page, known);
    const clauses = open.map(
      (run) => `(WorkflowId = '${run.workflowId}' AND CloseTime > '${run.start.text}' AND CloseTime < '${run.close.text}')`,
    );
    const query = `WorkflowType = '${PERMIT_WORKFLOW_TYPE}' AND (${clauses.join(' OR ')})`;
    return grantTimesOf(page, [...known, ...(await this.list(query, open.length * 2))]);
  }

  /** The first `count` closed permit runs the query lists (one visibility call). */
  private async list(query: string, count: number): Promise<ClosedRecord[]> {
    const { rpc } = this.options;
    return rpc.call(async () => {
      const records: ClosedRecord[] = [];
      for await (const execution of rpc.client.workflow.list({ query, pageSize: count })) {
        const record = closedRecordOf(execution);
        if (record) records.push(record);
        if (records.length >= count) break;
      }
      return records;
    });
  }

  /** The terminate reason of a terminated run (one history read, then remembered); undefined for other runs. */
  private async terminateReason(run: ClosedRecord): Promise<string | undefined> {
    if (!needsCloseReason(run.status)) return undefined;
    const cached = this.reasons.get(run.runId);
    if (cached !== undefined) return cached ?? undefined;
    let reason: string | null;
    try {
      const event = await closeEventOf(this.options.rpc, run.workflowId, run.runId);
      reason = event?.workflowExecutionTerminatedEventAttributes?.reason ?? null;
    } catch (error) {
      // Removed by retention between the list and this read: its reason is lost with it.
      if (grpcCode(error) !== GRPC_NOT_FOUND) throw error;
      reason = null;
    }
    this.reasons.set(run.runId, reason);
    if (this.reasons.size > REASON_CACHE_LIMIT) {
      const oldest = this.reasons.keys().next().value;
      if (oldest !== undefined) this.reasons.delete(oldest);
    }
    return reason ?? undefined;
  }
}

function closedRecordOf(execution: WorkflowExecutionInfo): ClosedRecord | undefined {
  const { memo } = execution;
  const start = runTimeOf(execution.raw.startTime);
  const close = runTimeOf(execution.raw.closeTime);
  if (!isPermitMemo(memo) || !start || !close) return undefined;
  return { workflowId: execution.workflowId, runId: execution.runId, slot: memo.slot, status: execution.status.name, start, close, memo };
}
