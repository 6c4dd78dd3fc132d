/** An exponential back-off: the first delay, and the most it grows to. */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

/**
 * How long to wait before retrying after `failures` consecutive failures (1 = the first): doubling
 * from `firstMs` up to `maxMs`, with jitter so that the retries of several queues and replicas
 * spread out instead of arriving together when Temporal comes back.
 */
export function retryDelayMs(failures: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(failures - 1, 30));
  const ceiling = Math.min(backoff.maxMs, backoff.firstMs * 2 ** exponent);
  return ceiling * (0.5 + random() / 2);
}
