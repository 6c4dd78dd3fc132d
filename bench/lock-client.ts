// One shape for every system the benchmark drives (raw Temporal, the HTTP service, Redis, etcd), so
// the same measuring loops run against all of them and differ only in the calls they make.

export interface AcquireRequest {
  resource: string;
  capacity: number;
  /** How long the lock may be held before it frees by itself. */
  leaseMs: number;
  /** 0 tries once; more waits up to that long for a free slot. */
  waitMs: number;
  /** Aborting gives up the wait (the call then rejects). */
  signal?: AbortSignal;
}

export interface HeldLock {
  /** When the lease ends if never released, as this system reports it (epoch ms). */
  expiresAtMs: number;
  release(): Promise<void>;
}

export interface LockClient {
  acquire(request: AcquireRequest): Promise<HeldLock>;
  /** Closes this client's connections. */
  close(): Promise<void>;
}

/** Makes clients; each one has its own connection(s), like a separate process would. */
export interface LockSystem {
  /** The name shown in the table's "system" column. */
  name: string;
  connect(): Promise<LockClient>;
}
