import { durationOption, positiveIntegerOption, type OptionValues } from '../args.js';
import { UsageError } from '../exit-codes.js';

/** The options `acquire` and `run` share. */
export const ACQUIRE_OPTIONS = {
  capacity: { type: 'string' },
  lease: { type: 'string' },
  wait: { type: 'string' },
  'no-wait': { type: 'boolean', short: 'n' },
  holder: { type: 'string' },
} as const;

export const ACQUIRE_HELP = `  --capacity N       holders allowed at once (default: the resource's configured
                     capacity, else 1)
  --lease DURATION   lease length, at least 1s (default: the service's, 30s unless configured)
  --wait DURATION    how long to wait for a free slot: 0 tries once, "forever" has no limit
                     (default forever, like flock)
  -n, --no-wait      the same as --wait 0
  --holder TEXT      who holds it, shown by "permit holders" and in the Temporal UI`;

/** The server refuses leases under 1 s; saying so here names the option. */
const MIN_LEASE_MS = 1_000;

export interface AcquireSettings {
  capacity: number | undefined;
  leaseMs: number | undefined;
  waitMs: number;
  holder: string | undefined;
}

/** Reads --capacity, --lease, --wait / -n and --holder. */
export function acquireSettings(values: OptionValues): AcquireSettings {
  if (values['no-wait'] && typeof values.wait === 'string') {
    throw new UsageError('--no-wait and --wait contradict each other; give one');
  }
  const holder = typeof values.holder === 'string' ? values.holder : undefined;
  if (holder !== undefined && holder.length > 256) throw new UsageError('--holder: at most 256 characters');
  return {
    capacity: positiveIntegerOption(values, 'capacity'),
    leaseMs: typeof values.lease === 'string' ? durationOption(values, 'lease', 0, { minMs: MIN_LEASE_MS }) : undefined,
    waitMs: values['no-wait'] ? 0 : durationOption(values, 'wait', Infinity, { allowForever: true }),
    holder,
  };
}
