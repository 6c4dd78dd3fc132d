import type { AcquireOptions, LockClient } from './lock-client.js';
import { PermitKeeper } from './permit-keeper.js';
import { releaseBestEffort, type ReleaseOutcome } from './release-best-effort.js';
import type { Permit } from './types.js';

export interface WithPermitOptions extends Omit<AcquireOptions, 'timeoutMs'> {
  /** Time between renewals; default a third of the lease. */
  renewEveryMs?: number | undefined;
  /** Told when the final release did not succeed (the lease then ends the permit); by default nothing is said. */
  onReleaseFailed?: ((outcome: Extract<ReleaseOutcome, { outcome: 'failed' }>) => void) | undefined;
}

export interface PermitContext {
  permit: Permit;
  /** Fires with a PermitLostError when the permit is lost, or when the caller's own signal fires. */
  signal: AbortSignal;
}

export type PermitWork<T> = (context: PermitContext) => Promise<T> | T;

/**
 * Acquires a permit on the resource, runs `fn` while renewing the permit in the background, and
 * releases it when `fn` settles, whether it returned or threw. `fn`'s result is returned as is; a
 * permit lost meanwhile shows only through the signal, which `fn` should check before each step
 * that needs the lock (`signal.throwIfAborted()`).
 */
export async function withPermit<T>(
  client: LockClient,
  resource: string,
  fn: PermitWork<T>,
  options: WithPermitOptions = {},
): Promise<T> {
  const permit = await client.acquire(resource, options);
  let keeper: PermitKeeper | undefined;
  try {
    keeper = new PermitKeeper(client, permit, { renewEveryMs: options.renewEveryMs });
    keeper.start();
    const signal = options.signal ? AbortSignal.any([keeper.lost, options.signal]) : keeper.lost;
    return await fn({ permit, signal });
  } finally {
    await keeper?.stop();
    const released = await releaseBestEffort(client, permit.runId);
    if (released.outcome === 'failed') options.onReleaseFailed?.(released);
  }
}
