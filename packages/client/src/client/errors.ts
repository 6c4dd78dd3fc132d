import type { ErrorCode, PermitEndState } from './types.js';

/** The service's own error codes, plus one for an answer that did not come from the lock API (a proxy's 502 page, a gateway's 401). */
export type LockServiceErrorCode = ErrorCode | 'unexpected_response';

/** The service answered with an error: `status` and `code` say which, `retryAfterSeconds` when it said when to retry. */
export class LockServiceError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: LockServiceErrorCode,
    readonly retryAfterSeconds?: number,
    /** How the permit ended (permit_ended only). */
    readonly state?: PermitEndState,
    /** The capacity in force for the resource (capacity_conflict only). */
    readonly capacity?: number,
  ) {
    super(message);
    this.name = 'LockServiceError';
  }

  /** True for answers that may succeed when asked again later: busy, Temporal unavailable, shutting down, 5xx, 429. */
  get retryable(): boolean {
    return this.code === 'resource_busy' || this.status >= 500 || this.status === 429;
  }

  /** True when the API key was refused: none or an unknown one (401), or one not allowed this (403), by the service or a gateway. */
  get keyRefused(): boolean {
    return this.status === 401 || this.status === 403;
  }

  /** True when the permit is gone for good: ended (410) or unknown (404). */
  get permitGone(): boolean {
    return this.code === 'permit_ended' || this.code === 'permit_not_found';
  }
}

/** No answer: the connection failed or the answer did not come within the timeout. */
export class LockServiceUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LockServiceUnreachableError';
  }
}

/**
 * Why a permit kept by withPermit or `permit run` is no longer safe to act under:
 * - `ended`: the service says it has ended (released by someone else, or expired) or does not know it;
 * - `unconfirmed`: no renewal succeeded before the lease would run out;
 * - `max_hold`: the service refuses further renewals (`max_hold_exceeded`: maximum hold time) and the
 *   lease is running out;
 * - `renewal_limit`: the service refuses further renewals (the permit was renewed as often as one
 *   permit may be) and the lease is running out;
 * - `key_refused`: the service refuses renewals because it refuses the API key (401, 403: the key was
 *   removed from the service's key file, say) and the lease is running out;
 * - `renewal_refused`: the service refuses renewals for another reason that asking again cannot change
 *   (any other 4xx, such as a 400 for a lease longer than its MAX_LEASE_MS) and the lease is running out.
 * The four refusals are reported as the lease runs out, not at once: the service still holds the
 * permit until then, as its fencing check says.
 */
export type PermitLostReason = 'ended' | 'unconfirmed' | 'max_hold' | 'renewal_limit' | 'key_refused' | 'renewal_refused';

/** The reason of the AbortSignal that fires when a kept permit is lost. */
export class PermitLostError extends Error {
  constructor(
    message: string,
    readonly runId: string,
    readonly reason: PermitLostReason,
    readonly state?: PermitEndState,
  ) {
    super(message);
    this.name = 'PermitLostError';
  }
}
