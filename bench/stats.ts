// Pure arithmetic over measured samples. Every figure the benchmark prints goes through here,
// so test/unit/bench-stats.test.ts pins down exactly what "p50", "p99" and "per second" mean.

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * The p-th percentile (0..100) by linear interpolation between the two nearest ranks of the sorted
 * samples (numpy's default, "R-7"). With fewer than 100 samples p99 lies between the two largest.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of no samples');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = ((sorted.length - 1) * p) / 100;
  const below = Math.floor(rank);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (rank - below) * (sorted[above]! - sorted[below]!);
}

/** The median: the 50th percentile, so an even count averages the two middle samples. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** The arithmetic mean of a non-empty list of samples. */
export function mean(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('mean of no samples');
  return samples.reduce((sum, sample) => sum + sample, 0) / samples.length;
}

/** Count, extremes, p50, p99 and mean of a non-empty list of samples. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('summary of no samples');
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const sample of samples) {
    sum += sample;
    min = Math.min(min, sample);
    max = Math.max(max, sample);
  }
  return {
    count: samples.length,
    min,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max,
    mean: sum / samples.length,
  };
}

/** Events per second over an elapsed time in milliseconds. */
export function perSecond(count: number, elapsedMs: number): number {
  if (!(elapsedMs > 0)) throw new RangeError(`elapsed time must be positive, got ${elapsedMs}`);
  return (count * 1000) / elapsedMs;
}

/**
 * Cycles per second of operations run back to back: the count over the time they took together.
 * Blocks of one system are interleaved with another's, so wall-clock time would count both.
 */
export function sequentialRate(durationsMs: readonly number[]): number {
  return perSecond(
    durationsMs.length,
    durationsMs.reduce((total, ms) => total + ms, 0),
  );
}

/** a / b, or undefined when either is missing or b is not positive (a ratio that cannot be formed). */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !(b > 0)) return undefined;
  return a / b;
}

/** Counts how many holders are inside at once and remembers the most ever seen. */
export class PeakGauge {
  private current = 0;
  private highest = 0;

  /** One more holder; returns how many there are now. */
  enter(): number {
    this.current += 1;
    this.highest = Math.max(this.highest, this.current);
    return this.current;
  }

  /** One holder fewer; leaving more often than entering is a bug in the caller. */
  leave(): void {
    if (this.current === 0) throw new Error('PeakGauge.leave() without a matching enter()');
    this.current -= 1;
  }

  get now(): number {
    return this.current;
  }

  get peak(): number {
    return this.highest;
  }
}
