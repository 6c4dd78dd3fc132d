import { LockServiceError, LockServiceUnreachableError } from './errors.js';
import type { LockClient } from './lock-client.js';

export type ReleaseOutcome =
  | { outcome: 'released' }
  /** It had ended already (released, expired) or the service does not know it: nothing is held either way. */
  | { outcome: 'already_ended'; error: LockServiceError }
  /** Every attempt failed; the slot stays taken until the lease runs out. */
  | { outcome: 'failed'; error: unknown };

const ATTEMPTS = 3;
const FIRST_PAUSE_MS = 200;

/**
 * Releases a permit, retrying a few times when the service is unreachable or unavailable, and
 * reports what happened instead of throwing: callers release on their way out and must not fail there.
 */
export async function releaseBestEffort(client: LockClient, runId: string): Promise<ReleaseOutcome> {
  let pauseMs = FIRST_PAUSE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      await client.release(runId);
      return { outcome: 'released' };
    } catch (error) {
      if (error instanceof LockServiceError && error.permitGone) return { outcome: 'already_ended', error };
      const worthRetrying =
        error instanceof LockServiceUnreachableError || (error instanceof LockServiceError && error.retryable);
      if (!worthRetrying || attempt >= ATTEMPTS) return { outcome: 'failed', error };
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      pauseMs *= 2;
    }
  }
}
