// Small helpers for promises the benchmark starts now and looks at later.

export type Settled<T> = { ok: true; value: T; at: number } | { ok: false; error: unknown; at: number };

/**
 * Never rejects, so a promise left pending across an await cannot become an unhandled rejection,
 * and records when it settled (performance.now()), which is the moment measured.
 */
export function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value, at: performance.now() }),
    (error: unknown) => ({ ok: false as const, error, at: performance.now() }),
  );
}

/** Runs fn over the items with at most `lanes` calls in flight; results keep the items' order. */
export async function mapInLanes<T, R>(items: readonly T[], lanes: number, fn: (item: T, lane: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (laneIndex: number) => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, laneIndex);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, (_, index) => lane(index)));
  return results;
}

/** The wall-clock time now in epoch ms, with the sub-millisecond part of the monotonic clock. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** A short text for an error, for the JSON's error lists. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : String(error);
}
