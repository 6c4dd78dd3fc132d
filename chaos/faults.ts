// Which faults a run injects, when, and against what: all drawn from the seed before the run starts,
// so --seed and --duration repeat the same faults in the same order (their moments can slip when a
// restart takes longer than the gap to the next fault: faults never overlap).
import { setTimeout as delay } from 'node:timers/promises';
import { say } from '../bench/progress.js';
import type { ChaosClients } from './clients.js';
import { between, pick, seededRandom, shuffled } from './random.js';
import type { FaultKind, Topology } from './topology.js';

export interface PlannedFault {
  kind: FaultKind;
  /** ms after the clients started. */
  atMs: number;
  /** The replica a replica fault hits. */
  replica: number;
  /** How long a killed process stays down, or a link stays cut, ms. */
  downMs: number;
}

export interface InjectedFault extends PlannedFault {
  startedAt: number;
  /** When the fault was over: the process back and ready, the link restored, the holder paused. */
  recoveredAt: number;
  /** For a holder pause: the client that stopped (undefined when nobody was holding). */
  client?: string;
  /** What it hit: a replica (and its role in a cluster), Temporal, PostgreSQL, or the paused client. */
  target?: string;
  note?: string;
}

/** Faults before this much of the run and after the run less this much are not planned. */
const QUIET_START_MS = 5_000;
const QUIET_END_MS = 5_000;

/** The faults of a run: each kind the topology takes, at least 3 times, one every ~5 s overall. */
export function planFaults(seed: number, durationMs: number, topology: Pick<Topology, 'faultKinds' | 'replicaCount'>): PlannedFault[] {
  const random = seededRandom(seed);
  const window = durationMs - QUIET_START_MS - QUIET_END_MS;
  const perKind = Math.max(3, Math.floor(window / 5_000 / topology.faultKinds.length));
  const kinds = shuffled(random, topology.faultKinds.flatMap((kind) => Array.from({ length: perKind }, () => kind)));
  const moments = kinds.map(() => QUIET_START_MS + Math.floor(random() * window)).sort((a, b) => a - b);
  return kinds.map((kind, index) => ({
    kind,
    atMs: moments[index]!,
    replica: between(random, 0, topology.replicaCount - 1),
    downMs: kind === 'tcp_cut' ? between(random, 1_000, 4_000) : between(random, 500, 2_500),
  }));
}

/** Injects the planned faults one after another, from `startedAt`; returns what was done. */
export async function injectFaults(
  plan: PlannedFault[],
  startedAt: number,
  topology: Topology,
  clients: ChaosClients,
  seed: number,
): Promise<InjectedFault[]> {
  const random = seededRandom(seed + 1);
  const done: InjectedFault[] = [];
  for (const fault of plan) {
    await delay(Math.max(0, startedAt + fault.atMs - Date.now()));
    const begun = Date.now();
    const injected: InjectedFault = { ...fault, startedAt: begun, recoveredAt: begun };
    switch (fault.kind) {
      case 'replica_kill':
        await topology.killReplica(fault.replica);
        await delay(fault.downMs);
        await topology.restartReplica(fault.replica);
        break;
      case 'temporal_kill':
        await topology.killTemporal();
        await delay(fault.downMs);
        await topology.restartTemporal();
        break;
      case 'tcp_cut':
        await topology.cutTemporalLink(fault.replica, fault.downMs);
        break;
      case 'postgres_kill':
        if (!topology.killPostgres || !topology.restartPostgres) throw new Error(`the ${topology.name} topology has no database to kill`);
        await topology.killPostgres();
        await delay(fault.downMs);
        await topology.restartPostgres();
        break;
      case 'holder_pause': {
        // A holder at random among those holding now; wait a moment for one if nobody holds.
        for (let tries = 0; tries < 50 && !injected.client; tries++) {
          const holders = clients.holders();
          if (holders.length > 0) {
            const client = pick(random, holders);
            if (clients.requestPause(client)) injected.client = client;
          } else {
            await delay(100);
          }
        }
        if (!injected.client) injected.note = 'nobody was holding';
        break;
      }
    }
    injected.recoveredAt = Date.now();
    done.push(injected);
    const target =
      fault.kind === 'holder_pause'
        ? injected.client ?? 'nobody'
        : fault.kind === 'temporal_kill'
          ? 'Temporal'
          : fault.kind === 'postgres_kill'
            ? 'PostgreSQL'
            : topology.describeReplica(fault.replica);
    injected.target = target;
    say(`fault ${done.length}/${plan.length}: ${fault.kind} (${target}), over after ${((injected.recoveredAt - begun) / 1000).toFixed(1)} s`);
  }
  return done;
}
