// What the chaos run drives: a set of lock-service replicas and the Temporal server under them. The
// embedded topology (embedded-topology.ts) is one dev server and two replicas; the cluster topology
// (cluster-topology.ts: PostgreSQL, 4 history shards, replicas behind a load balancer) has the same
// methods and one more fault kind, the database's.

/** Faults the run knows how to inject; a topology says which of them it supports. */
export type FaultKind = 'replica_kill' | 'temporal_kill' | 'holder_pause' | 'tcp_cut' | 'postgres_kill';

export interface Topology {
  readonly name: string;
  /** Base URLs clients may send a request to: each replica, or the load balancer in front of them. */
  readonly urls: readonly string[];
  /** Whether a URL is one replica (so the clients know which replica granted a permit) or a load balancer. */
  readonly urlsAreReplicas: boolean;
  /** Fault kinds this topology can take. */
  readonly faultKinds: readonly FaultKind[];
  /** How many replicas the replica faults may pick from. */
  readonly replicaCount: number;
  /** The capacities the replicas are configured with (RESOURCE_CAPACITIES). */
  readonly capacities: Readonly<Record<string, number>>;
  /** SIGKILL of one replica's process. */
  killReplica(index: number): Promise<void>;
  /** Starts a killed replica again (same port, same settings) and waits until it is ready. */
  restartReplica(index: number): Promise<void>;
  /** SIGKILL of the Temporal server. */
  killTemporal(): Promise<void>;
  /** Starts the Temporal server again on the same data and waits until it answers. */
  restartTemporal(): Promise<void>;
  /** Cuts one replica off from Temporal: its traffic is held for `forMs`, then every connection is reset. */
  cutTemporalLink(index: number, forMs: number): Promise<void>;
  /** SIGKILL of Temporal's database (topologies with a postgres_kill fault). */
  killPostgres?(): Promise<void>;
  /** Starts the database again on the same data and waits until it takes sessions. */
  restartPostgres?(): Promise<void>;
  /** What a replica fault on replica `index` hits, for the progress lines. */
  describeReplica(index: number): string;
  /** The replicas' /metrics URLs (those running now). */
  metricsUrls(): string[];
  /** Stops everything it started. */
  stop(): Promise<void>;
}
