import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { Acquirer, type AcquireRequest } from './acquirer.js';
import type { CapacityRecords } from './capacity-records.js';
import { FencingSeqReader } from './fencing-seq.js';
import type { HeldPermit, Permit } from './permit.js';
import { PermitLocator } from './permit-locator.js';
import { PermitOperations } from './permit-operations.js';
import { ResourceViewer, type ResourceView } from './resource-view.js';
import { TemporalRpc } from './temporal-rpc.js';

export type { AcquireRequest } from './acquirer.js';
export type { ResourceView } from './resource-view.js';

export interface PermitServiceOptions {
  client: Client;
  /** A client on a connection of its own for the slot watches' long-polls (defaults to `client`). */
  watchClient?: Client | undefined;
  taskQueue: string;
  limits: Config['limits'];
  waiting: Config['waiting'];
  resourceCapacities: Record<string, number>;
  capacityLeaseMs: number;
  rpcTimeoutMs: number;
  metrics: Metrics;
  log: Logger;
}

/**
 * What the routes call. It wires the modules that do the work and holds no logic of its own:
 * acquiring (acquirer.ts), release/renew/status (permit-operations.ts), the resource view
 * (resource-view.ts), every Temporal call's deadline (temporal-rpc.ts).
 */
export class PermitService {
  private readonly acquirer: Acquirer;
  private readonly operations: PermitOperations;
  private readonly viewer: ResourceViewer;
  /** Reads (and remembers) permits' fencing numbers; the capacity activities use it too. */
  readonly fencingSeqs: FencingSeqReader;

  /** The service as the configuration describes it. */
  static fromConfig(
    config: Config,
    clients: { client: Client; watchClient?: Client },
    metrics: Metrics,
    log: Logger,
  ): PermitService {
    return new PermitService({
      ...clients,
      taskQueue: config.temporal.taskQueue,
      limits: config.limits,
      waiting: config.waiting,
      resourceCapacities: config.resourceCapacities,
      capacityLeaseMs: config.capacityLeaseMs,
      rpcTimeoutMs: config.temporal.rpcTimeoutMs,
      metrics,
      log,
    });
  }

  constructor(options: PermitServiceOptions) {
    const { client, metrics, log } = options;
    const rpc = new TemporalRpc(client, options.rpcTimeoutMs);
    const fencingSeqs = new FencingSeqReader(rpc, metrics);
    this.fencingSeqs = fencingSeqs;
    const locator = new PermitLocator(rpc, options.limits.visibilityLookupWaitMs, metrics, log);
    this.acquirer = new Acquirer({
      rpc,
      fencingSeqs,
      watchClient: options.watchClient ?? client,
      taskQueue: options.taskQueue,
      limits: options.limits,
      waiting: options.waiting,
      resourceCapacities: options.resourceCapacities,
      capacityLeaseMs: options.capacityLeaseMs,
      rpcTimeoutMs: options.rpcTimeoutMs,
      metrics,
      log,
      granted: (permit) => locator.remember(permit),
      release: (runId) => this.operations.release(runId),
    });
    this.operations = new PermitOperations({
      rpc,
      fencingSeqs,
      locator,
      metrics,
      log,
      slotFreed: (workflowId) => this.acquirer.slotFreed(workflowId),
      renewed: (permit) => this.acquirer.permitRenewed(permit),
    });
    this.viewer = new ResourceViewer(rpc, fencingSeqs, options.resourceCapacities, (resource) => this.acquirer.capacities.capacityInForce(resource));
  }

  /** The capacity in force for each resource, as this replica may rely on it. */
  get capacities(): CapacityRecords {
    return this.acquirer.capacities;
  }

  /** Ends every wait in progress and the calls made in the background; called once at shutdown. */
  close(): Promise<void> {
    return this.acquirer.close();
  }

  /** Claims a free slot, waiting up to waitMs for one; throws resource_busy when none frees in time. */
  acquire(request: AcquireRequest): Promise<Permit> {
    return this.acquirer.acquire(request);
  }

  /** Ends the permit's run; its slot is free for the next acquire as soon as this returns. */
  release(runId: string): Promise<void> {
    return this.operations.release(runId);
  }

  /** Extends the lease to now + leaseMs (default: the permit's lease length). */
  renew(runId: string, leaseMs: number | undefined): Promise<HeldPermit> {
    return this.operations.renew(runId, leaseMs);
  }

  /** The permit as Temporal has it now; ended permits throw permit_ended. This is the fencing-token check. */
  status(runId: string): Promise<HeldPermit> {
    return this.operations.status(runId);
  }

  /** The permits held on a resource. */
  viewResource(resource: string, requestedCapacity: number | undefined): Promise<ResourceView> {
    return this.viewer.view(resource, requestedCapacity);
  }
}
