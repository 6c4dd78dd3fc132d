// `npm run chaos [-- --duration 120 --seed 7 --out FILE]`: the command line of the chaos run.

export interface ChaosOptions {
  /** Seconds of clients and faults, before the liveness check. */
  durationSec: number;
  /** Chooses the faults' moments, order, targets and lengths. */
  seed: number;
  /** Also write the JSON here. */
  out: string | undefined;
  /** The topology to break: the embedded dev server, or the production-shaped cluster (`npm run cluster`). */
  topology: 'embedded' | 'cluster';
}

export class UsageError extends Error {}

export const USAGE = `Usage: npm run chaos -- [--duration SECONDS] [--seed N] [--out FILE] [--cluster]

Runs 18 clients against two replicas of the lock service on one Temporal dev server, every write
through the fencing store, while it SIGKILLs and restarts replicas and Temporal, pauses holders past
their leases and cuts replicas off from Temporal; then judges the run and prints a table. Exits 1 on
any violation. With --cluster, the same on what \`npm run cluster\` starts (PostgreSQL, a Temporal
server with 4 history shards, api, worker and all replicas behind HAProxy), clients going through the
load balancer, with SIGKILL of PostgreSQL too.

  --duration SECONDS   how long clients run and faults come (default 120, at least 30)
  --seed N             the faults' moments, order, targets and lengths (default: random, printed)
  --out FILE           also write the JSON results to FILE (always: bench/results/chaos-<topology>.json)
  --cluster            the production-shaped topology instead of the embedded one`;

/** Parses the flags; throws UsageError naming a bad one. */
export function parseChaosOptions(argv: string[]): ChaosOptions {
  const options: ChaosOptions = { durationSec: 120, seed: Math.floor(Math.random() * 1_000_000), out: undefined, topology: 'embedded' };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    const value = () => {
      const next = argv[++index];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    if (flag === '--duration') {
      const seconds = Number(value());
      if (!Number.isInteger(seconds) || seconds < 30) throw new UsageError('--duration must be a whole number of seconds, at least 30');
      options.durationSec = seconds;
    } else if (flag === '--seed') {
      const seed = Number(value());
      if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a whole number, 0 or more');
      options.seed = seed;
    } else if (flag === '--out') {
      options.out = value();
    } else if (flag === '--cluster') {
      options.topology = 'cluster';
    } else if (flag === '--help' || flag === '-h') {
      throw new UsageError(USAGE);
    } else {
      throw new UsageError(`unknown flag ${flag}\n\n${USAGE}`);
    }
  }
  return options;
}
