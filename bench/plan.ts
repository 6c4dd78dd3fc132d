// How much each scenario does in quick and full mode, and the command-line flags that choose them.
import type { AnatomyPlan } from './scenarios/anatomy.js';
import type { ContentionPlan } from './scenarios/contention.js';
import type { CyclePlan } from './scenarios/cycle.js';
import type { ExpiryPlan, HandoffPlan } from './scenarios/handoff.js';
import type { LargePoolPlan } from './scenarios/large-pool.js';
import type { OccupancyPlan } from './scenarios/occupancy.js';
import type { AgingPlan } from './scenarios/aging.js';
import type { MemoryPlan } from './scenarios/memory.js';
import type { RestartPlan } from './scenarios/restart.js';
import type { ThroughputPlan } from './scenarios/throughput.js';

export const PHASES = [
  'cycle',
  'contention',
  'handoff',
  'occupancy',
  'throughput',
  'anatomy',
  'large-pool',
  'restart',
  'aging',
  'memory',
  'redis',
  'etcd',
  'throttle',
] as const;
export type Phase = (typeof PHASES)[number];
/** Phases too long for --quick (filling 10,000 slots, or 100,000 closed permits, takes minutes); they run in full mode or when --only names them. */
const FULL_ONLY: readonly Phase[] = ['large-pool', 'aging', 'memory'];

export interface BenchPlan {
  mode: 'quick' | 'full';
  cycle: CyclePlan;
  /** GET /healthz round trips: HTTP and Fastify with no lock work. */
  floor: CyclePlan;
  contention: ContentionPlan;
  handoff: HandoffPlan;
  expiry: ExpiryPlan;
  occupancy: OccupancyPlan;
  /** K clients each on a mutex of its own, for each K. */
  throughput: ThroughputPlan;
  /** What one grant costs the Temporal server, variant by variant. */
  anatomy: AnatomyPlan;
  largePool: LargePoolPlan;
  restart: RestartPlan;
  aging: AgingPlan;
  /** Memory as held permits and waiters grow, on an environment of its own. */
  memory: MemoryPlan;
}

export interface BenchOptions {
  plan: BenchPlan;
  /** The cycle phase always runs: it is the raw baseline every ratio is taken against. */
  phases: Set<Phase>;
  /** Every phase runs in full mode: only such a run replaces bench/results/latest.json, the run the README quotes. */
  complete: boolean;
  /** Another file to write the JSON results to. */
  out: string | undefined;
  /** Run the service with --cpu-prof and summarise where its CPU time went. */
  profile: boolean;
  /** More environment for the service (`--service-env KEY=VALUE`, repeatable): to compare settings run by run. */
  serviceEnv: Record<string, string>;
  /** A second service with these settings over the first's (`--compare-env KEY=VALUE`, repeatable), measured in the same run. */
  compareEnv: Record<string, string>;
}

/** The plan for quick (about two minutes on 2 cores) or full mode (about five). */
export function benchPlan(quick: boolean): BenchPlan {
  return {
    mode: quick ? 'quick' : 'full',
    cycle: { warmup: 20, count: quick ? 100 : 1_000, block: 25 },
    floor: { warmup: 20, count: quick ? 100 : 500, block: 100 },
    contention: {
      clients: 32,
      capacity: 3,
      holdMs: 3,
      warmupMs: 1_000,
      durationMs: quick ? 5_000 : 10_000,
      waitMs: 30_000,
      // Short, so the timers released runs leave behind fire inside this phase (see cycle.ts).
      leaseMs: 2_000,
    },
    handoff: { reps: quick ? 10 : 30, warmup: 2, headStartMs: 50, headStartJitterMs: 50, waitMs: 30_000 },
    expiry: { reps: quick ? 4 : 10, leaseMs: 1_000, headStartMs: 50, headStartJitterMs: 50, waitMs: 30_000, staggerMs: 150 },
    occupancy: {
      capacity: 1_000,
      levels: [0, 50, 90, 99],
      samples: quick ? 20 : 50,
      warmup: 10,
      fillLanes: 16,
      fillLeaseMs: 600_000,
      fillWaitMs: 10_000,
    },
    // A 2 s lease and a 2 s warm-up: by a window's start, the timers its level's grants leave behind
    // (as no-ops, a lease later) fire at the rate they are left, so the window's CPU counts them.
    throughput: { ks: [1, 4, 16, 64], warmupMs: 2_000, durationMs: quick ? 2_500 : 8_000, leaseMs: 2_000 },
    anatomy: { cycles: quick ? 40 : 200, rounds: quick ? 1 : 4, warmup: 5, holdMs: 50, leaseMs: 1_000 },
    largePool: {
      capacities: quick ? [1_000] : [1_000, 10_000],
      trials: quick ? 10 : 30,
      fillLanes: 32,
      fillLeaseMs: 3_600_000,
      fillWaitMs: 10_000,
      waitMs: 30_000,
      headStartMaxMs: 1_500,
      idleWindowMs: quick ? 3_000 : 10_000,
    },
    restart: { restarts: quick ? 3 : 6, readyTimeoutMs: 120_000, built: !quick },
    // Minutes in full mode (100,000 closed permits): never part of --quick; with
    // `--quick --only aging` it runs at a fifth of the size, to try it out.
    aging: {
      realPermits: quick ? 2_000 : 10_000,
      realLanes: 32,
      closedPermits: quick ? 20_000 : 100_000,
      rawLanes: 64,
      resources: 1_000,
      cycles: { warmup: 20, count: quick ? 200 : 500, block: 25 },
      lookups: quick ? 50 : 200,
      views: quick ? 20 : 50,
    },
    // Minutes in full mode (10,000 held permits, 1,000 waiters); `--quick --only memory` runs a fifth.
    memory: { heldLevels: quick ? [200, 2_000] : [1_000, 10_000], waiters: quick ? 200 : 1_000, lanes: 32, renewals: quick ? 10 : 30 },
  };
}

export const USAGE = `usage: npm run bench -- [--quick] [--only ${PHASES.join(',')}] [--out FILE] [--profile] [--service-env KEY=VALUE] [--compare-env KEY=VALUE]
  --quick        fewer samples and shorter windows (finishes within 3 minutes); skips ${FULL_ONLY.join(', ')} unless --only names them
  --only         comma-separated phases; "cycle" (the raw baseline) always runs; aging takes
                 10-15 minutes (100,000 closed permits), memory about 5 (10,000 held, 1,000 waiters)
  --out          also write the JSON results to FILE
  --profile      run the service with --cpu-prof and print where its CPU time went
  --service-env  run the service with this environment variable set (repeatable), e.g. PERMIT_START_DELAY=none
  --compare-env  also run a second service with this variable set (repeatable) and measure it in the same run,
                 interleaved with the first: cycle, hand-off after release, throughput and anatomy`;

/** Parses the flags after `npm run bench --`; throws with the usage text on anything unknown. */
export function parseOptions(args: readonly string[]): BenchOptions {
  let quick = false;
  let only: Phase[] | undefined;
  let out: string | undefined;
  let profile = false;
  const serviceEnv: Record<string, string> = {};
  const compareEnv: Record<string, string> = {};
  for (let index = 0; index < args.length; index++) {
    const given = args[index]!;
    // --flag=value is the same as --flag value.
    const equals = given.startsWith('--') ? given.indexOf('=') : -1;
    const arg = equals > 0 ? given.slice(0, equals) : given;
    const inline = equals > 0 ? given.slice(equals + 1) : undefined;
    const value = () => {
      if (inline !== undefined) return inline;
      const next = args[++index];
      if (next === undefined) throw new UsageError(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (inline !== undefined && ['--help', '--quick', '--profile'].includes(arg)) throw new UsageError(`${arg} takes no value\n${USAGE}`);
    if (arg === '--help' || arg === '-h') throw new UsageError(USAGE, 0);
    if (arg === '--quick') quick = true;
    else if (arg === '--profile') profile = true;
    else if (arg === '--out') out = value();
    else if (arg === '--service-env' || arg === '--compare-env') {
      const pair = value();
      const equals = pair.indexOf('=');
      if (equals < 1) throw new UsageError(`${arg} takes KEY=VALUE, got "${pair}"\n${USAGE}`);
      (arg === '--service-env' ? serviceEnv : compareEnv)[pair.slice(0, equals)] = pair.slice(equals + 1);
    } else if (arg === '--only') {
      only = value()
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean)
        .map((name) => {
          if (!(PHASES as readonly string[]).includes(name)) throw new UsageError(`unknown phase "${name}"\n${USAGE}`);
          return name as Phase;
        });
    } else throw new UsageError(`unknown argument "${arg}"\n${USAGE}`);
  }
  const phases = new Set<Phase>(only ?? PHASES.filter((phase) => !(quick && FULL_ONLY.includes(phase))));
  phases.add('cycle');
  // Only a run of the service as configured by default may stand for it in bench/results/latest.json.
  const defaults = Object.keys(serviceEnv).length === 0 && Object.keys(compareEnv).length === 0;
  const complete = !quick && !profile && phases.size === PHASES.length && defaults;
  return { plan: benchPlan(quick), phases, complete, out, profile, serviceEnv, compareEnv };
}

/** A mistake on the command line (or --help): the message is for the user, with no stack trace. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 64,
  ) {
    super(message);
  }
}
