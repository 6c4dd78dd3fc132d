// What the chaos run drives: a set of lock-service replicas and the Temporal server under them. The
// embedded topology (embedded-topology.ts) is one dev server and two replicas; a production-shaped
// cluster (PostgreSQL, several history shards, replicas behind a load balancer) plugs in here with
// the same methods and a longer list of fault kinds.

/** Faults the run knows how to inject; a topology says which of them it supports. */
export type FaultKind = 'replica_kill' | 'temporal_kill' | 'holder_pause' | 'tcp_cut';

export interface Topology {
  readonly name: string;
  /** Base URLs clients may send a request to: each replica (or, in a cluster, the load balancer too). */
  readonly urls: readonly string[];
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
  /** The replicas' /metrics URLs (those running now). */
  metricsUrls(): string[];
  /** Stops everything it started. */
  stop(): Promise<void>;
}
