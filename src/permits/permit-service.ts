import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { Acquirer, type AcquireRequest } from './acquirer.js';
import { UNRESTRICTED, type Actor } from './actor.js';
import type { CapacityRecords } from './capacity-records.js';
import type { EagerStarter } from './eager-starter.js';
import { FencingSeqReader } from './fencing-seq.js';
import type { HeldPermit, Permit } from './permit.js';
import { PermitEvents } from './permit-events.js';
import { PermitHistory, type HistoryPage } from './permit-history.js';
import { PermitLocator } from './permit-locator.js';
import { PermitOperations, type ForceRelease } from './permit-operations.js';
import { ResourceDirectory, type ResourceListPage } from './resource-directory.js';
import { ResourceViewer, type ResourceView } from './resource-view.js';
import type { RunTime } from './run-time.js';
import { TemporalRpc } from './temporal-rpc.js';
import { TemporalUiLinks } from './temporal-ui-links.js';

export type { AcquireRequest } from './acquirer.js';
export type { HistoryEntry, HistoryPage } from './permit-history.js';
export type { PermitEvent } from './permit-events.js';
export type { ResourceListPage } from './resource-directory.js';
export type { ResourceView } from './resource-view.js';

export interface PermitServiceOptions {
  client: Client;
  /** A client on a connection of its own for the slot watches' long-polls (defaults to `client`). */
  watchClient?: Client | undefined;
  taskQueue: string;
  limits: Config['limits'];
  waiting: Config['waiting'];
  resourceCapacities: Record<string, number>;
  /** How permit runs are started (PERMIT_START_DELAY, TEMPORAL_EAGER_START); no delay and no eager start when absent. */
  permitStart?: Config['permitStart'] | undefined;
  capacityLeaseMs: number;
  rpcTimeoutMs: number;
  /** Where the Temporal Web UI is (TEMPORAL_UI_URL, or the embedded server's); undefined: no links. */
  temporalUiUrl?: string | undefined;
  /** The Temporal namespace, for links into its Web UI. */
  namespace?: string | undefined;
  /** How often /events reads visibility while anyone listens (EVENTS_REFRESH_MS). */
  eventsRefreshMs?: number | undefined;
  metrics: Metrics;
  log: Logger;
}

/**
 * What the routes call. It wires the modules that do the work and holds no logic of its own:
 * acquiring (acquirer.ts), release/renew/status (permit-operations.ts), the resource view
 * (resource-view.ts), the resource list (resource-directory.ts), the history (permit-history.ts),
 * the event stream (permit-events.ts), every Temporal call's deadline (temporal-rpc.ts).
 */
export class PermitService {
  private readonly acquirer: Acquirer;
  private readonly operations: PermitOperations;
  private readonly viewer: ResourceViewer;
  private readonly directory: ResourceDirectory;
  private readonly history: PermitHistory;
  private readonly locator: PermitLocator;
  /** Grants, releases, renewals and expiries through this replica, and a periodic refresh from visibility. */
  readonly events: PermitEvents;
  /** Links into the Temporal Web UI. */
  readonly temporalUi: TemporalUiLinks;
  /** Reads (and remembers) permits' fencing numbers; the capacity activities use it too. */
  readonly fencingSeqs: FencingSeqReader;
  private eagerStarter: EagerStarter | undefined;

  /** The service as the configuration describes it. */
  static fromConfig(
    config: Config,
    clients: { client: Client; watchClient?: Client },
    metrics: Metrics,
    log: Logger,
    temporalUiUrl: string | undefined = config.temporal.uiUrl,
  ): PermitService {
    return new PermitService({
      ...clients,
      temporalUiUrl,
      namespace: config.temporal.namespace,
      eventsRefreshMs: config.events.refreshMs,
      taskQueue: config.temporal.taskQueue,
      limits: config.limits,
      waiting: config.waiting,
      resourceCapacities: config.resourceCapacities,
      permitStart: config.permitStart,
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
    this.locator = locator;
    this.temporalUi = new TemporalUiLinks(options.temporalUiUrl, options.namespace ?? client.options.namespace);
    this.history = new PermitHistory({ rpc, links: this.temporalUi });
    this.directory = new ResourceDirectory(rpc, () => this.acquirer.waitingByResource());
    this.events = new PermitEvents({
      rpc,
      directory: this.directory,
      refreshMs: options.eventsRefreshMs ?? 5_000,
      metrics,
      log,
    });
    this.acquirer = new Acquirer({
      rpc,
      fencingSeqs,
      watchClient: options.watchClient ?? client,
      taskQueue: options.taskQueue,
      limits: options.limits,
      waiting: options.waiting,
      resourceCapacities: options.resourceCapacities,
      startDelay: options.permitStart?.delay ?? 'none',
      eagerStarter: () => this.eagerStarter,
      capacityLeaseMs: options.capacityLeaseMs,
      rpcTimeoutMs: options.rpcTimeoutMs,
      metrics,
      log,
      granted: (permit) => locator.remember(permit),
      release: (runId) => this.release(runId, UNRESTRICTED),
      expiredRunEnded: (workflowId, runId, holder) => this.events.expired(workflowId, runId, holder),
    });
    this.operations = new PermitOperations({
      rpc,
      fencingSeqs,
      locator,
      lookupWaitMs: options.limits.visibilityLookupWaitMs,
      metrics,
      log,
      slotFreed: (workflowId) => this.acquirer.slotFreed(workflowId),
      renewed: (permit) => this.acquirer.permitRenewed(permit),
      released: (workflowId, runId) => this.events.released(workflowId, runId, this.locator.cached(runId)?.holder),
    });
    this.viewer = new ResourceViewer(rpc, fencingSeqs, options.resourceCapacities, (resource) => this.acquirer.capacities.capacityInForce(resource));
  }

  /** The capacity in force for each resource, as this replica may rely on it. */
  get capacities(): CapacityRecords {
    return this.acquirer.capacities;
  }

  /**
   * From now on, start permit runs eagerly through this starter, which must be on the connection of
   * a worker of this process (TEMPORAL_EAGER_START).
   */
  useEagerStarts(starter: EagerStarter): void {
    this.eagerStarter = starter;
  }

  /** Ends every wait in progress and the calls made in the background; called once at shutdown. */
  close(): Promise<void> {
    this.events.close();
    return this.acquirer.close();
  }

  /** Claims a free slot, waiting up to waitMs for one; throws resource_busy when none frees in time. */
  async acquire(request: AcquireRequest): Promise<Permit> {
    const permit = await this.acquirer.acquire(request);
    this.events.granted(permit);
    return permit;
  }

  /**
   * Ends the permit's run (its holder's key or an admin only; others get permit_not_found); its slot
   * is free for the next acquire as soon as this returns. With `force`, an admin's release with a reason.
   */
  release(runId: string, actor: Actor, force?: ForceRelease): Promise<void> {
    return this.operations.release(runId, actor, force);
  }

  /** Extends the lease to now + leaseMs (default: the permit's lease length); its holder's key or an admin only. */
  async renew(runId: string, leaseMs: number | undefined, actor: Actor): Promise<HeldPermit> {
    const permit = await this.operations.renew(runId, leaseMs, actor);
    this.events.renewed(permit);
    return permit;
  }

  /** The permit as Temporal has it now; ended permits throw permit_ended. This is the fencing-token check. */
  status(runId: string, actor: Actor): Promise<HeldPermit> {
    return this.operations.status(runId, actor);
  }

  /** The permits held on a resource; tokens only of the actor's own permits (all of them for an admin). */
  viewResource(resource: string, requestedCapacity: number | undefined, actor: Actor): Promise<ResourceView> {
    return this.viewer.view(resource, requestedCapacity, actor);
  }

  /**
   * Sets the resource's capacity by the capacity rule (an admin's call): established or changed while
   * nobody holds the resource; capacity_conflict naming the one in force while anyone does, or when
   * it is configured (RESOURCE_CAPACITIES).
   */
  setCapacity(resource: string, capacity: number): Promise<number> {
    return this.acquirer.resolveCapacity(resource, capacity, 0);
  }

  /** The resources that have holders now (or waiters on this replica), by name, from visibility; only those the actor may use. */
  listResources(prefix: string, limit: number, cursor: string | undefined, actor: Actor = UNRESTRICTED): Promise<ResourceListPage> {
    return this.directory.list(prefix, limit, cursor, (resource) => actor.mayUse(resource));
  }

  /** The past permits of a resource that ended before `before`, newest first. */
  resourceHistory(resource: string, limit: number, before: RunTime | undefined): Promise<HistoryPage> {
    return this.history.page(resource, limit, before);
  }
}
