import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type AcquireOutcome = 'granted' | 'busy' | 'conflict' | 'aborted' | 'crowded' | 'error';
export type PermitOperation = 'release' | 'renew' | 'status';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The service's Prometheus metrics, in a registry of their own so several apps can live in one process. */
export class Metrics {
  readonly registry = new Registry();

  readonly acquires = new Counter({
    name: 'lock_acquire_total',
    help: 'Acquire requests by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly acquireSeconds = new Histogram({
    name: 'lock_acquire_duration_seconds',
    help: 'Time from an acquire request to its answer, waiting included',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly slotAttempts = new Counter({
    name: 'lock_slot_start_attempts_total',
    help: 'Workflow starts tried while searching for a free slot, by result (claimed, busy, late: claimed but answered too late to deliver, so ended; unnumbered: claimed but its fencing number could not be read, so ended)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly fencingSeqReadSeconds = new Histogram({
    name: 'lock_fencing_seq_read_duration_seconds',
    help: "History reads of a permit run's start event for its fencing number: one per grant, and one per permit another replica granted",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly permitLookupSeconds = new Histogram({
    name: 'lock_permit_lookup_duration_seconds',
    help:
      'Visibility lookups of a runId this replica did not grant (release, renew or status of a permit granted elsewhere or before a restart), ' +
      'by result (found, not_found, error: Temporal did not answer within VISIBILITY_LOOKUP_WAIT_MS)',
    labelNames: ['result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10],
    registers: [this.registry],
  });

  readonly expiredLeaseChecks = new Counter({
    name: 'lock_expired_lease_checks_total',
    help:
      'Describes of the run holding a slot whose start failed, made to find a lease that ended with no worker to close its run, ' +
      'by result (held: lease running or within the grace; ended: the acquire ended the run; closed: it had closed meanwhile)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly waiters = new Gauge({
    name: 'lock_waiters',
    help: 'Acquires waiting in this replica for a slot to free',
    registers: [this.registry],
  });

  readonly slotWatches = new Gauge({
    name: 'lock_slot_watches',
    help: 'Open long-polls watching a held slot for its run to close',
    registers: [this.registry],
  });

  readonly waitPasses = new Counter({
    name: 'lock_wait_passes_total',
    help:
      'Slot search passes made for waiters, by what prompted them (freed: a slot was seen freed; closed: visibility listed ' +
      'slots whose runs closed; probe: periodic; lease_end: a held slot passed its known lease end plus the grace)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly closedRunLooks = new Counter({
    name: 'lock_wait_closed_run_looks_total',
    help:
      'Looks in Temporal visibility for permit runs that closed on the resources waited on here, one per interval for all of them, ' +
      'by result (found: it hinted at least one slot; none; error: visibility did not answer, the probe goes on alone)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly capacityRecordCalls = new Counter({
    name: 'lock_capacity_record_calls_total',
    help: 'Temporal calls made on capacity records (describe, start, lease, change, ack, tick, terminate, read close), by call',
    labelNames: ['call'] as const,
    registers: [this.registry],
  });

  readonly capacityRecordsFollowed = new Gauge({
    name: 'lock_capacity_records_followed',
    help: 'Capacity records this replica follows (one parked history long-poll each); records of resources idle for CAPACITY_LEASE_MS are dropped',
    registers: [this.registry],
  });

  readonly waitPassErrors = new Counter({
    name: 'lock_wait_pass_errors_total',
    help: 'Slot search passes for waiters that failed with a Temporal error; on a transient one the waiters keep waiting',
    registers: [this.registry],
  });

  readonly slotWatchErrors = new Counter({
    name: 'lock_slot_watch_errors_total',
    help: 'Slot watches that failed (Temporal unreachable, a deadline, a reset connection); they are reopened after a pause',
    registers: [this.registry],
  });

  readonly permitOperations = new Counter({
    name: 'lock_permit_operations_total',
    help: 'Release, renew and status calls by outcome (ok, ended, not_found, refused, error)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly eventStreams = new Gauge({
    name: 'lock_event_streams',
    help: 'Open /events streams (Server-Sent Events) on this replica',
    registers: [this.registry],
  });

  readonly httpSeconds = new Histogram({
    name: 'lock_http_request_duration_seconds',
    help: 'HTTP request latency by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readCachedWorkflows: (() => number) | undefined;

  readonly workerCachedWorkflows = new Gauge({
    name: 'lock_worker_cached_workflows',
    help:
      "Permit runs in this replica's worker cache (at most WORKER_CACHED_PERMITS); a run not cached is replayed from its " +
      'history when it next has work (a renewal, its lease end)',
    registers: [this.registry],
    collect: () => {
      if (this.readCachedWorkflows) this.workerCachedWorkflows.set(this.readCachedWorkflows());
    },
  });

  /** Reads the worker's cache size at each scrape; replicas without a worker never call it. */
  observeWorkerCache(read: () => number): void {
    this.readCachedWorkflows = read;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
