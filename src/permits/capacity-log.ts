import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

// A capacity record's history is a log that every replica reads in the same order: the server
// appends each signal as one event, with its own clock's time, and needs no worker to do it. The
// record's protocol (capacity-records.ts) is built on that order.

type HistoryRequest = Parameters<Client['workflowService']['getWorkflowExecutionHistory']>[0];
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

const EventType = proto.temporal.api.enums.v1.EventType;

/** Long enough to outlast the server's long-poll (20 s by default), short enough to notice a dead connection. */
const LONG_POLL_DEADLINE_MS = 60_000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

/** A replica's claim that it may rely on the record's capacity for `ms` from the entry's time. */
export interface LeaseEntry {
  kind: 'lease';
  replica: string;
  nonce: string;
  ms: number;
}

/** A request to replace the record: by a record of capacity `to` (the same capacity rolls it over). */
export interface ChangeEntry {
  kind: 'change';
  id: string;
  to: number;
  by: string;
}

/** A replica saw the change and no longer relies on the record. */
export interface AckEntry {
  kind: 'ack';
  id: string;
  replica: string;
}

/** Appended only to learn the server's time. */
export interface TickEntry {
  kind: 'tick';
  nonce: string;
}

export type SignalEntry = LeaseEntry | ChangeEntry | AckEntry | TickEntry;

/** The record run closed (replaced, or timed out). */
export interface ClosedEntry {
  kind: 'closed';
  reason: string | undefined;
}

export type LogEntry = (SignalEntry | ClosedEntry) & {
  eventId: number;
  /** The server's time of the event, ms since the epoch. */
  at: number;
};

export const SIGNAL_KINDS: ReadonlySet<string> = new Set(['lease', 'change', 'ack', 'tick']);

const CLOSE_TYPES = new Set<number>([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
]);

function eventTimeMs(event: HistoryEvent): number {
  const time = event.eventTime;
  return time ? Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6) : Date.now();
}

/**
 * Follows one record run's history with a long-poll, in order, from its first event until it closes
 * or `stop()` is called. Reading it costs one parked call, re-armed when the server's long-poll
 * times out; a failed poll is retried with back-off and nothing is skipped.
 */
export class CapacityLog {
  private readonly stopping = new AbortController();
  private closedEntry: LogEntry | undefined;
  private readonly waiters = new Set<() => void>();
  /** Events read so far (the record's history length, as this replica knows it). */
  eventsSeen = 0;
  /** Set when reading failed and is being retried. */
  lastError: unknown;

  constructor(
    private readonly client: Client,
    readonly workflowId: string,
    readonly runId: string,
    private readonly onEntry: (entry: LogEntry) => void,
  ) {}

  /** Starts reading in the background. */
  start(): void {
    void this.follow();
  }

  stop(): void {
    this.stopping.abort();
    this.notify();
  }

  get closed(): boolean {
    return this.closedEntry !== undefined;
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /**
   * Resolves once `done()` holds, checked after every entry; false when the deadline passes, the
   * log stops, or the signal fires first.
   */
  async waitUntil(done: () => boolean, deadline: number, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (done()) return true;
      if (this.stopped || Date.now() >= deadline || signal?.aborted) return false;
      await new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', finish);
          this.waiters.delete(finish);
          resolve();
        };
        const timer = setTimeout(finish, deadline - Date.now());
        signal?.addEventListener('abort', finish, { once: true });
        this.waiters.add(finish);
      });
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private async follow(): Promise<void> {
    const { connection, options, workflowService } = this.client;
    const payloadConverter = this.client.options.loadedDataConverter.payloadConverter;
    const request: HistoryRequest = {
      namespace: options.namespace,
      execution: { workflowId: this.workflowId, runId: this.runId },
      waitNewEvent: true,
      skipArchival: true,
    };
    let retryMs = RETRY_MIN_MS;
    while (!this.stopped && !this.closed) {
      let response: Awaited<ReturnType<typeof workflowService.getWorkflowExecutionHistory>>;
      try {
        response = await connection.withAbortSignal(this.stopping.signal, () =>
          connection.withDeadline(Date.now() + LONG_POLL_DEADLINE_MS, () => workflowService.getWorkflowExecutionHistory(request)),
        );
      } catch (error) {
        if (this.stopped) return;
        this.lastError = error;
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
        continue;
      }
      retryMs = RETRY_MIN_MS;
      this.lastError = undefined;
      for (const event of response.history?.events ?? []) {
        this.eventsSeen++;
        const entry = this.entryOf(event, payloadConverter);
        if (!entry) continue;
        if (entry.kind === 'closed') this.closedEntry = entry;
        this.onEntry(entry);
      }
      this.notify();
      if (!response.nextPageToken?.length) {
        // No token: the run has closed (its close event is the last thing the server sends).
        if (!this.closed) this.closedEntry = { kind: 'closed', reason: undefined, eventId: 0, at: Date.now() };
        break;
      }
      request.nextPageToken = response.nextPageToken;
    }
    this.notify();
  }

  private entryOf(
    event: HistoryEvent,
    payloadConverter: Client['options']['loadedDataConverter']['payloadConverter'],
  ): LogEntry | undefined {
    const eventId = Number(event.eventId ?? 0);
    const at = eventTimeMs(event);
    const type = event.eventType ?? 0;
    if (CLOSE_TYPES.has(type)) {
      return { kind: 'closed', reason: event.workflowExecutionTerminatedEventAttributes?.reason ?? undefined, eventId, at };
    }
    const signaled = event.workflowExecutionSignaledEventAttributes;
    if (type !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED || !signaled?.signalName) return undefined;
    if (!SIGNAL_KINDS.has(signaled.signalName)) return undefined;
    const payload = signaled.input?.payloads?.[0];
    let body: unknown;
    try {
      body = payload ? payloadConverter.fromPayload(payload) : undefined;
    } catch {
      return undefined;
    }
    const entry = parseSignal(signaled.signalName, body);
    return entry && { ...entry, eventId, at };
  }
}

const isString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value > 0;

/** A signal's payload as a log entry; anything malformed (someone signalled the record by hand) is ignored. */
export function parseSignal(name: string, body: unknown): SignalEntry | undefined {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  switch (name) {
    case 'lease':
      return isString(fields.replica) && isString(fields.nonce) && isCount(fields.ms)
        ? { kind: 'lease', replica: fields.replica, nonce: fields.nonce, ms: fields.ms }
        : undefined;
    case 'change':
      return isString(fields.id) && isCount(fields.to) && isString(fields.by)
        ? { kind: 'change', id: fields.id, to: fields.to, by: fields.by }
        : undefined;
    case 'ack':
      return isString(fields.id) && isString(fields.replica) ? { kind: 'ack', id: fields.id, replica: fields.replica } : undefined;
    case 'tick':
      return isString(fields.nonce) ? { kind: 'tick', nonce: fields.nonce } : undefined;
    default:
      return undefined;
  }
}
