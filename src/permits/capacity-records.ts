import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { CapacityLog, type ChangeEntry, type LogEntry } from './capacity-log.js';
import { capacityChanging, capacityConflict, temporalUnavailable } from './errors.js';
import type { TemporalRpc } from './temporal-rpc.js';
import { toDomainError } from './temporal-errors.js';

// Callers that disagree on a resource's capacity must not both be granted. Every resource has a
// capacity record: a workflow run `capacity:<resource>` whose input is the capacity in force. No
// worker ever runs it (it waits on a task queue nobody polls); it is a place in Temporal that every
// replica can read, and its history is an ordered log the replicas append to with signals, which the
// server records without a worker. The protocol:
//
// - A replica grants a permit with capacity C only while it *trusts* the record: it appended a
//   `lease` entry (a claim on the record for CAPACITY_LEASE_MS) and read the log up to it with no
//   `change` entry before it. It counts the lease from when it sent the signal, so its view ends
//   no later than the record's. Each grant checks trust after its slot claim, locally: no call.
// - To change the capacity (or roll the record over), a replica stops trusting, appends `change`,
//   and waits until every other replica that leased before the change has acknowledged it (`ack`,
//   sent by replicas that see the change in the log they follow) or its lease has run out by the
//   server's clock (a `tick` entry tells the server's time). From then on nobody grants under the
//   old record. It then reads the slots: if any run holds one, the change is refused and the record
//   renewed; else the record is replaced by one with the new capacity. A replaced record's close
//   reason carries the decision, so whoever comes next knows it.
// - So a grant under C happens before the change's check of the slots (which then sees it and
//   refuses) or after the change is decided (and the replica then sees the new record).

/** A record nobody rolls over ends by itself this long after its start: records of resources nobody uses go away. */
const RECORD_LIFETIME_MS = 86_400_000;
/**
 * Trust ends this long before the record would end by itself (its start is on the server's clock,
 * the trust on the replica's), so the two clocks may disagree by this much.
 */
const LIFETIME_MARGIN_MS = 3_600_000;
/** A record older than this, or whose log is longer, is rolled over by the next replica that renews its lease. */
const ROLLOVER_AGE_MS = 8 * 3_600_000;
const ROLLOVER_EVENTS = 2_000;
/** How long a replica that did not start a change waits for its driver before driving it itself. */
const TAKEOVER_AFTER_MS = 5_000;
/** Resources whose records this replica follows at most; the least recently used are dropped. */
const MAX_FOLLOWED = 5_000;
const DESCRIBES_AT_ONCE = 16;
const SETTLE_ROUNDS = 12;

const TERMINATED = proto.temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;

/** The workflow ID of a resource's capacity record. */
export function capacityRecordId(resource: string): string {
  return `capacity:${resource}`;
}

export const CAPACITY_RECORD_TYPE = 'capacityRecord';

/** What a replaced record's close reason says the capacity is now, and whether the slots were checked empty. */
export interface RecordDecision {
  capacity: number;
  verifiedEmpty: boolean;
}

const changedReason = (from: number, to: number, id: string) => `capacity changed from ${from} to ${to}: no holders (change ${id})`;
const keptReason = (capacity: number, id: string) => `capacity kept at ${capacity}: holders remain (change ${id} refused)`;
const renewedReason = (capacity: number, id: string) => `capacity record renewed at ${capacity} (change ${id})`;

/** Reads a record's close reason; undefined when it was not closed by the protocol (timed out, ended by hand). */
export function decisionOf(reason: string | undefined): RecordDecision | undefined {
  const changed = /^capacity changed from \d+ to (\d+): no holders/.exec(reason ?? '');
  if (changed) return { capacity: Number(changed[1]), verifiedEmpty: true };
  const kept = /^capacity (?:kept at|record renewed at) (\d+)/.exec(reason ?? '');
  if (kept) return { capacity: Number(kept[1]), verifiedEmpty: false };
  return undefined;
}

interface LeaseSeen {
  at: number;
  ms: number;
}

/** What this replica knows of one resource's current record. */
class FollowedRecord {
  runId: string | undefined;
  capacity = 0;
  /** The record run's start (server clock). */
  startedAt = 0;
  log: CapacityLog | undefined;
  /** Local time until which this replica may grant under the record; 0 when it may not. */
  trustedUntil = 0;
  /** The first change in the log; once there is one, the record is on its way out. */
  pending: (ChangeEntry & { at: number; seenAtLocal: number }) | undefined;
  /** Each replica's latest lease from before the change. */
  readonly leases = new Map<string, LeaseSeen>();
  readonly acks = new Set<string>();
  /** Entries this replica appended and waits to see in the log, by nonce. */
  readonly awaiting = new Map<string, (entry: LogEntry & { pendingBefore: boolean }) => void>();
  leasedHere = false;
  renewing: Promise<unknown> | undefined;
  driving: Promise<void> | undefined;
  lastUsed = Date.now();
  /** Serializes the slow path (learning, establishing, changing) per resource. */
  queue: Promise<unknown> = Promise.resolve();

  constructor(readonly resource: string) {}

  trusted(now: number): boolean {
    return !!this.log && !this.log.closed && !this.pending && now < this.trustedUntil;
  }
}

export interface CapacityRecordsOptions {
  rpc: TemporalRpc;
  /** The client whose connection carries the logs' parked long-polls. */
  watchClient: Client;
  /** Records wait on `<taskQueue>-capacity-records`, which no worker polls. */
  taskQueue: string;
  leaseMs: number;
  /** The deadline of one Temporal call; also how long a replica waits to see its own entry in a log. */
  rpcTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
  /** True when some run holds one of the resource's slots 0..capacity-1. */
  anySlotHeld(resource: string, capacity: number): Promise<boolean>;
}

/**
 * The capacity in force for each resource, as this replica may rely on it. `trustedCapacity()` is
 * the hot path (no call); `settle()` learns, establishes or changes the capacity by the protocol
 * above and throws `capacity_conflict` naming the capacity in force when holders disagree.
 */
export class CapacityRecords {
  readonly replicaId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly followed = new Map<string, FollowedRecord>();
  private readonly closing = new AbortController();
  /** Calls made in the background (lease renewals, acknowledgements, changes), awaited at shutdown. */
  private readonly background = new Set<Promise<unknown>>();
  private readonly recordsQueue: string;

  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: CapacityRecordsOptions) {
    this.recordsQueue = `${options.taskQueue}-capacity-records`;
    this.sweeper = setInterval(() => this.forgetIdle(), options.leaseMs).unref();
  }

  /**
   * Stops following records this replica has not used for a lease: it no longer trusts them, and a
   * parked long-poll per resource ever used would grow without end on a service whose callers use
   * many one-off resource names.
   */
  private forgetIdle(): void {
    const idleSince = Date.now() - this.options.leaseMs;
    for (const [resource, record] of this.followed) {
      if (record.lastUsed > idleSince || record.driving || record.renewing || Date.now() < record.trustedUntil) continue;
      record.log?.stop();
      this.followed.delete(resource);
    }
    this.options.metrics.capacityRecordsFollowed.set(this.followed.size);
  }

  /**
   * Stops following every record and waits (at most `timeoutMs`) for calls made in the background,
   * so none is still retrying when the connections close; called once at shutdown.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing.abort();
    clearInterval(this.sweeper);
    for (const record of this.followed.values()) record.log?.stop();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.background]), timedOut]);
    clearTimeout(timer);
  }

  /** Runs work in the background; its failure is logged, and shutdown waits for it. */
  private inBackground(what: string, resource: string, work: () => Promise<unknown>): Promise<void> {
    const run = work()
      .then(() => undefined)
      .catch((error: unknown) => this.options.log.warn({ err: error, resource }, `capacity record: ${what} failed`));
    this.background.add(run);
    void run.finally(() => this.background.delete(run));
    return run;
  }

  /** The capacity this replica may grant under right now without asking Temporal, if any. */
  trustedCapacity(resource: string): number | undefined {
    const record = this.followed.get(resource);
    if (!record) return undefined;
    const now = Date.now();
    record.lastUsed = now;
    if (!record.trusted(now)) return undefined;
    if (record.trustedUntil - now < this.options.leaseMs / 2 && !record.renewing) this.renewInBackground(record);
    return record.capacity;
  }

  /**
   * The capacity in force as far as a reader needs it: the trusted one, else what the record says
   * now (one describe), else undefined when the resource has no record.
   */
  async capacityInForce(resource: string): Promise<number | undefined> {
    const trusted = this.trustedCapacity(resource);
    if (trusted !== undefined) return trusted;
    const current = await this.describeRecord(resource);
    return current && !current.closed ? current.capacity : undefined;
  }

  /**
   * Makes this replica trust the resource's record and returns the capacity in force: the requested
   * one (establishing it, or changing it while nobody holds the resource), or the one in force when
   * none is requested (1 for a new resource). Throws capacity_conflict when holders have another
   * capacity, resource_busy (capacity_changing) when a change does not settle before the deadline.
   */
  settle(resource: string, requested: number | undefined, deadline: number): Promise<number> {
    const record = this.follow(resource);
    const run = record.queue.then(() => this.settleInOrder(record, requested, deadline));
    record.queue = run.catch(() => undefined);
    return run;
  }

  private async settleInOrder(record: FollowedRecord, requested: number | undefined, deadline: number): Promise<number> {
    const { resource } = record;
    // The deadline bounds only the wait for a change to be decided; every call has its own deadline.
    let waitedForChange = false;
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      if (this.closing.signal.aborted) break;
      if (record.trusted(Date.now())) {
        if (requested === undefined || requested === record.capacity) return record.capacity;
        if (await this.options.anySlotHeld(resource, record.capacity)) {
          throw capacityConflict(resource, record.capacity, requested);
        }
        waitedForChange = true;
        if (Date.now() >= deadline) break;
        await this.change(record, requested, deadline);
        continue;
      }
      if (record.pending && record.log && !record.log.closed) {
        waitedForChange = true;
        if (Date.now() >= deadline) break;
        await this.awaitPendingChange(record, deadline);
        continue;
      }
      if (!record.log || record.log.closed || record.log.stopped) {
        // Only a record this replica does not follow yet, or one that has closed, needs a describe.
        const current = await this.describeRecord(resource);
        if (!current || current.closed) {
          await this.establish(record, requested, current);
          continue;
        }
        this.attach(record, current.runId, current.capacity, current.startedAt);
      }
      await this.lease(record, Date.now() + this.options.rpcTimeoutMs);
    }
    if (waitedForChange || this.closing.signal.aborted) throw capacityChanging(resource);
    throw temporalUnavailable(`the capacity record of resource "${resource}" could not be read in time`);
  }

  /** Starts a record where none runs: with the requested capacity, unless holders of the last one remain. */
  private async establish(
    record: FollowedRecord,
    requested: number | undefined,
    closed: { runId: string; capacity: number } | undefined,
  ): Promise<void> {
    const { resource } = record;
    const decided = closed ? await this.decisionOfClosed(resource, closed.runId, closed.capacity) : undefined;
    const target = requested ?? decided?.capacity ?? 1;
    if (decided && target !== decided.capacity && !decided.verifiedEmpty) {
      if (await this.options.anySlotHeld(resource, decided.capacity)) throw capacityConflict(resource, decided.capacity, target);
    }
    const started = await this.startRecord(resource, target);
    if (started) this.attach(record, started.runId, target, started.startedAt);
  }

  /** Appends a lease and trusts the record from when it was sent, if no change came before it. */
  private async lease(record: FollowedRecord, deadline: number): Promise<boolean> {
    const log = record.log;
    if (!log) return false;
    const { leaseMs } = this.options;
    const nonce = randomUUID();
    const seen = this.appended(record, nonce, deadline);
    const sentAt = Date.now();
    const sent = await this.signal(record, 'lease', { replica: this.replicaId, nonce, ms: leaseMs });
    if (!sent) return false;
    record.leasedHere = true;
    const entry = await seen;
    if (!entry || entry.pendingBefore || record.pending || log.closed || record.log !== log) return false;
    const lifetimeEnd = record.startedAt + RECORD_LIFETIME_MS - LIFETIME_MARGIN_MS;
    record.trustedUntil = Math.max(record.trustedUntil, Math.min(sentAt + leaseMs, lifetimeEnd));
    return true;
  }

  private renewInBackground(record: FollowedRecord): void {
    record.renewing = this.inBackground('lease renewal', record.resource, async () => {
      const tooOld = Date.now() - record.startedAt > ROLLOVER_AGE_MS || (record.log?.eventsSeen ?? 0) > ROLLOVER_EVENTS;
      if (tooOld) {
        // Rolling over is a change to the same capacity; it keeps the record's history short.
        await this.settleInOrderQueued(record, () => this.change(record, record.capacity, Date.now() + this.options.leaseMs));
      } else {
        await this.lease(record, Date.now() + this.options.leaseMs / 4);
      }
    }).finally(() => {
      record.renewing = undefined;
    });
  }

  private settleInOrderQueued(record: FollowedRecord, work: () => Promise<void>): Promise<void> {
    const run = record.queue.then(work);
    record.queue = run.catch(() => undefined);
    return run;
  }

  /** Asks for the record to be replaced by one of capacity `to` and drives the change. */
  private async change(record: FollowedRecord, to: number, deadline: number): Promise<void> {
    // Trust ends before the change is appended: grants here from now on must find the new record.
    record.trustedUntil = 0;
    const id = randomUUID();
    const log = record.log;
    if (!log) return;
    const sent = await this.signal(record, 'change', { id, to, by: this.replicaId });
    if (!sent) return;
    this.options.log.info({ resource: record.resource, from: record.capacity, to, change: id }, 'capacity change requested');
    await log.waitUntil(() => !!record.pending || log.closed, deadline, this.closing.signal);
    if (record.pending?.id === id) record.driving ??= this.startDriving(record, record.pending);
    await this.awaitPendingChange(record, deadline);
  }

  /** Waits for a pending change to be decided (the record closes); takes it over if its driver is gone. */
  private async awaitPendingChange(record: FollowedRecord, deadline: number): Promise<void> {
    const log = record.log;
    const pending = record.pending;
    if (!log || !pending) return;
    if (!record.driving) {
      const takeOverAt = pending.seenAtLocal + this.maxLeaseMs(record) + TAKEOVER_AFTER_MS;
      await log.waitUntil(() => log.closed, Math.min(deadline, takeOverAt), this.closing.signal);
      if (log.closed || Date.now() < takeOverAt) return;
      this.options.log.warn({ resource: record.resource, change: pending.id }, 'driving a capacity change its requester left unfinished');
      record.driving = this.startDriving(record, pending);
    }
    const driving = record.driving;
    await Promise.race([driving, log.waitUntil(() => log.closed, deadline, this.closing.signal)]);
  }

  private maxLeaseMs(record: FollowedRecord): number {
    return Math.max(this.options.leaseMs, ...[...record.leases.values()].map((lease) => lease.ms));
  }

  private startDriving(record: FollowedRecord, change: ChangeEntry & { at: number }): Promise<void> {
    return this.inBackground('deciding a change', record.resource, () => this.drive(record, change));
  }

  /**
   * Decides a change: waits until no replica may still grant under the record (each leaseholder
   * acknowledged or its lease ran out by the server's clock), then reads the slots, then replaces
   * the record with the decision in its close reason.
   */
  private async drive(record: FollowedRecord, change: ChangeEntry & { at: number }): Promise<void> {
    const { resource } = record;
    const log = record.log;
    const runId = record.runId;
    if (!log || !runId) return;
    try {
      let serverNow = change.at;
      for (;;) {
        const outstanding = [...record.leases.entries()].filter(
          ([replica, lease]) => replica !== change.by && !record.acks.has(replica) && lease.at + lease.ms > serverNow,
        );
        if (outstanding.length === 0) break;
        const lastEnd = Math.max(...outstanding.map(([, lease]) => lease.at + lease.ms));
        await log.waitUntil(
          () => log.closed || outstanding.every(([replica]) => record.acks.has(replica)),
          Date.now() + (lastEnd - serverNow),
          this.closing.signal,
        );
        if (log.closed || this.closing.signal.aborted) return;
        if (outstanding.every(([replica]) => record.acks.has(replica))) continue;
        const tick = await this.tick(record);
        if (tick === undefined) return;
        serverNow = tick;
      }
      const from = record.capacity;
      let reason: string;
      let next: number;
      if (change.to === from) {
        reason = renewedReason(from, change.id);
        next = from;
      } else if (await this.options.anySlotHeld(resource, from)) {
        reason = keptReason(from, change.id);
        next = from;
      } else {
        reason = changedReason(from, change.to, change.id);
        next = change.to;
      }
      try {
        await this.call('terminate', () => this.options.rpc.client.workflow.getHandle(capacityRecordId(resource), runId).terminate(reason));
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return; // another replica decided it first
        throw error;
      }
      this.options.log.info({ resource, change: change.id, from, to: next }, reason);
      await this.startRecord(resource, next);
    } catch (error) {
      this.options.log.warn({ err: error, resource, change: change.id }, 'capacity change not decided yet; the next acquire retries it');
    } finally {
      record.driving = undefined;
    }
  }

  /** Follows a record run from its first event. */
  private attach(record: FollowedRecord, runId: string, capacity: number, startedAt: number): void {
    record.log?.stop();
    record.runId = runId;
    record.capacity = capacity;
    record.startedAt = startedAt;
    record.trustedUntil = 0;
    record.pending = undefined;
    record.leases.clear();
    record.acks.clear();
    record.leasedHere = false;
    const log = new CapacityLog(this.options.watchClient, capacityRecordId(record.resource), runId, (entry) =>
      this.onEntry(record, log, entry),
    );
    record.log = log;
    log.start();
  }

  private onEntry(record: FollowedRecord, log: CapacityLog, entry: LogEntry): void {
    if (record.log !== log) return;
    switch (entry.kind) {
      case 'lease':
        if (!record.pending) record.leases.set(entry.replica, { at: entry.at, ms: entry.ms });
        record.awaiting.get(entry.nonce)?.({ ...entry, pendingBefore: !!record.pending });
        break;
      case 'change':
        if (record.pending) break;
        record.pending = { ...entry, seenAtLocal: Date.now() };
        record.trustedUntil = 0;
        if (entry.by !== this.replicaId && record.leasedHere) {
          void this.inBackground('acknowledging a change', record.resource, () =>
            this.signal(record, 'ack', { id: entry.id, replica: this.replicaId }),
          );
        }
        break;
      case 'ack':
        if (record.pending?.id === entry.id) record.acks.add(entry.replica);
        break;
      case 'tick':
        record.awaiting.get(entry.nonce)?.({ ...entry, pendingBefore: !!record.pending });
        break;
      case 'closed':
        record.trustedUntil = 0;
        break;
    }
  }

  /** Resolves with the entry this replica appended with `nonce` once the log shows it; undefined past the deadline. */
  private appended(record: FollowedRecord, nonce: string, deadline: number) {
    const log = record.log;
    return new Promise<(LogEntry & { pendingBefore: boolean }) | undefined>((resolve) => {
      let found: (LogEntry & { pendingBefore: boolean }) | undefined;
      record.awaiting.set(nonce, (entry) => {
        found = entry;
      });
      void (log ? log.waitUntil(() => found !== undefined, deadline, this.closing.signal) : Promise.resolve(false)).then(() => {
        record.awaiting.delete(nonce);
        resolve(found);
      });
    });
  }

  /** The server's time now, read from a tick entry appended to the log. */
  private async tick(record: FollowedRecord): Promise<number | undefined> {
    const nonce = randomUUID();
    const seen = this.appended(record, nonce, Date.now() + this.options.leaseMs);
    if (!(await this.signal(record, 'tick', { nonce }))) return undefined;
    return (await seen)?.at;
  }

  /** Appends an entry; false when the record run has closed (its log is then dropped, so the next step describes anew). */
  private async signal(record: FollowedRecord, kind: string, body: Record<string, unknown>): Promise<boolean> {
    const runId = record.runId;
    const log = record.log;
    if (!runId) return false;
    try {
      await this.call(kind, () => this.options.rpc.client.workflow.getHandle(capacityRecordId(record.resource), runId).signal(kind, body));
      return true;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw toDomainError(error);
      if (record.log === log) {
        record.trustedUntil = 0;
        log?.stop();
      }
      return false;
    }
  }

  private async describeRecord(
    resource: string,
  ): Promise<{ runId: string; capacity: number; startedAt: number; closed: boolean } | undefined> {
    try {
      const description = await this.call('describe', () =>
        this.options.rpc.client.workflow.getHandle(capacityRecordId(resource)).describe(),
      );
      const capacity = Number(description.memo?.capacity);
      return {
        runId: description.runId,
        capacity: Number.isInteger(capacity) && capacity > 0 ? capacity : 1,
        startedAt: description.startTime.getTime(),
        closed: description.status.name !== 'RUNNING',
      };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw toDomainError(error);
    }
  }

  /** What a closed record's close reason decided; for a record closed otherwise, its own capacity, unchecked. */
  private async decisionOfClosed(resource: string, runId: string, capacity: number): Promise<RecordDecision> {
    const { rpc } = this.options;
    const response = await this.call('read close', () =>
      rpc.client.workflowService.getWorkflowExecutionHistory({
        namespace: rpc.client.options.namespace,
        execution: { workflowId: capacityRecordId(resource), runId },
        historyEventFilterType: TERMINATED,
        skipArchival: true,
      }),
    );
    const reason = response.history?.events?.[0]?.workflowExecutionTerminatedEventAttributes?.reason ?? undefined;
    return decisionOf(reason) ?? { capacity, verifiedEmpty: false };
  }

  /** Starts a record run; undefined when another replica started one first. */
  private async startRecord(resource: string, capacity: number): Promise<{ runId: string; startedAt: number } | undefined> {
    const startedAt = Date.now();
    try {
      const handle = await this.call('start', () =>
        this.options.rpc.client.workflow.start(CAPACITY_RECORD_TYPE, {
          workflowId: capacityRecordId(resource),
          taskQueue: this.recordsQueue,
          args: [{ resource, capacity }],
          memo: { resource, capacity },
          workflowExecutionTimeout: RECORD_LIFETIME_MS,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        }),
      );
      this.options.log.info({ resource, capacity, runId: handle.firstExecutionRunId }, 'capacity record started');
      return { runId: handle.firstExecutionRunId, startedAt };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return undefined;
      throw toDomainError(error);
    }
  }

  private call<T>(call: string, fn: () => Promise<T>): Promise<T> {
    this.options.metrics.capacityRecordCalls.inc({ call });
    return this.options.rpc.call(fn);
  }

  /** The followed record of a resource, made on first use; the least recently used is dropped past the limit. */
  private follow(resource: string): FollowedRecord {
    let record = this.followed.get(resource);
    if (record) {
      this.followed.delete(resource);
    } else {
      record = new FollowedRecord(resource);
    }
    this.followed.set(resource, record);
    record.lastUsed = Date.now();
    if (this.followed.size > MAX_FOLLOWED) {
      const [oldest, dropped] = this.followed.entries().next().value!;
      if (!dropped.driving) {
        dropped.log?.stop();
        this.followed.delete(oldest);
      }
    }
    this.options.metrics.capacityRecordsFollowed.set(this.followed.size);
    return record;
  }
}

/** True when a run holds any of the slots; reads them directly (describe), a few at a time. */
export async function anySlotHeldDirect(
  rpc: TemporalRpc,
  workflowIdOf: (slot: number) => string,
  capacity: number,
): Promise<boolean> {
  let next = 0;
  let held = false;
  const lane = async () => {
    while (!held && next < capacity) {
      const slot = next++;
      try {
        const description = await rpc.call(() => rpc.client.workflow.getHandle(workflowIdOf(slot)).describe());
        if (description.status.name === 'RUNNING') held = true;
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw toDomainError(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DESCRIBES_AT_ONCE, capacity) }, lane));
  return held;
}
