// The floor of this design: the service's own acquire (a workflow start) and release (a terminate),
// made directly with the SDK, without HTTP, against the same server and task queue.
import type { Client } from '@temporalio/client';
import { permitStartOptions } from '../../src/permits/permit-start.js';
import { DEFAULT_MAX_RENEWALS, PERMIT_WORKFLOW_TYPE, type PermitStartDelay } from '../../src/temporal/messages.js';
import type { AcquireRequest, HeldLock, LockClient, LockSystem } from '../lock-client.js';

export interface RawTemporalOptions {
  client: Client;
  taskQueue: string;
  /** The service's MAX_HOLD_MS, which it passes as the run's execution timeout. */
  maxHoldMs: number;
  /** The service's TEMPORAL_RPC_TIMEOUT_MS, the deadline it puts on every call. */
  rpcTimeoutMs: number;
  /** The service's PERMIT_START_DELAY, so the raw start is the service's start. */
  startDelay?: PermitStartDelay;
}

/** Starts the permit workflow for slot 0 with the service's own start options, and terminates it to release. */
export function rawTemporalClient({ client, taskQueue, maxHoldMs, rpcTimeoutMs, startDelay }: RawTemporalOptions): LockClient {
  const rpc = <T>(call: () => Promise<T>) => client.connection.withDeadline(Date.now() + rpcTimeoutMs, call);
  return {
    async acquire({ resource, capacity, leaseMs, waitMs }: AcquireRequest): Promise<HeldLock> {
      if (capacity !== 1 || waitMs !== 0) throw new Error('the raw baseline is one try on slot 0 of a mutex');
      // The benchmark never renews, so the renewal limit only has to be a valid one: the service's default.
      const maxRenewals = DEFAULT_MAX_RENEWALS;
      const options = permitStartOptions({ resource, slot: 0, capacity, leaseMs, maxHoldMs, maxRenewals, holder: null, taskQueue, startDelay });
      const sentAtMs = Date.now();
      const handle = await rpc(() => client.workflow.start(PERMIT_WORKFLOW_TYPE, options));
      const runId = handle.firstExecutionRunId;
      return {
        expiresAtMs: sentAtMs + leaseMs,
        release: async () => {
          await rpc(() => client.workflow.getHandle(options.workflowId, runId).terminate('released by the benchmark'));
        },
      };
    },
    // The SDK client's connection belongs to the environment, which closes it.
    close: async () => undefined,
  };
}

/** The raw baseline as a system; every "client" shares the one SDK Client. */
export function rawTemporalSystem(options: RawTemporalOptions): LockSystem {
  return { name: 'raw Temporal SDK (no HTTP)', connect: async () => rawTemporalClient(options) };
}
