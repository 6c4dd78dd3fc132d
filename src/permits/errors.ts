import { ERROR_CODES, type ErrorCode, type PermitEndState } from 'temporal-lock-client/wire';

// The codes and end states are part of the wire contract, which the client package owns.
export { ERROR_CODES };
export type { ErrorCode, PermitEndState };

/** A failure with a code, an HTTP status and a message that is safe to show to the caller. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly statusCode: number,
    message: string,
    readonly extra: { retryAfterSeconds?: number; state?: PermitEndState; capacityInForce?: number } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalidRequest = (message: string) => new DomainError('invalid_request', 400, message);

/** No key, a malformed authorization header, or a key the service does not know. */
export const unauthorized = (message: string) => new DomainError('unauthorized', 401, `authorization: ${message}`);

/** The key is known but may not do this (its role or its resource prefixes). */
export const forbidden = (message: string) => new DomainError('forbidden', 403, message);

export const rateLimited = (perSecond: number, retryAfterSeconds: number) =>
  new DomainError(
    'rate_limited',
    429,
    `this key sent more than ${perSecond} requests in a second (RATE_LIMIT_PER_SECOND); retry after ${retryAfterSeconds} s`,
    { retryAfterSeconds },
  );

/** The caller's key already has as many waiting acquires on this replica as it may. */
export const tooManyWaitersForKey = (keyName: string, maxWaiters: number) =>
  new DomainError(
    'too_many_waiters',
    429,
    `waitMs: key "${keyName}" already has ${maxWaiters} waiting acquire(s) on this replica (MAX_WAITERS_PER_KEY); retry later or acquire without waitMs`,
    { retryAfterSeconds: 1 },
  );

export const permitNotFound = (runId: string) =>
  new DomainError('permit_not_found', 404, `no permit with runId ${runId} is known`);

export const permitEnded = (runId: string, state: PermitEndState) =>
  new DomainError('permit_ended', 410, `permit ${runId} has already ended: ${state}`, { state });

export const resourceBusy = (resource: string, capacity: number, waitMs: number, retryAfterSeconds: number) =>
  new DomainError(
    'resource_busy',
    409,
    `all ${capacity} slot(s) of resource "${resource}" are held${waitMs > 0 ? ` and none was freed within waitMs ${waitMs}` : ''}`,
    { retryAfterSeconds },
  );

/**
 * The request names another capacity than the one in force: the configured one, or that of the
 * resource's holders (which may change once nobody holds it).
 */
export const capacityConflict = (resource: string, inForce: number, requested: number, configured = false) =>
  new DomainError(
    'capacity_conflict',
    409,
    configured
      ? `capacity: resource "${resource}" is configured with capacity ${inForce}, the request asked for ${requested}`
      : `capacity: resource "${resource}" has capacity ${inForce} in force (its holders'), the request asked for ${requested}; ` +
          'it may change once nobody holds the resource',
    { capacityInForce: inForce },
  );

/** A change of the resource's capacity is being decided; it settles within moments, or a lapsed replica's lease. */
export const capacityChanging = (resource: string) =>
  new DomainError(
    'resource_busy',
    409,
    `the capacity of resource "${resource}" is being changed right now; retry shortly`,
    { retryAfterSeconds: 1 },
  );

export const maxHoldExceeded = (message: string) => new DomainError('max_hold_exceeded', 409, `leaseMs: ${message}`);

export const renewalLimit = (message: string) => new DomainError('renewal_limit', 409, message);

export const temporalUnavailable = (detail: string) =>
  new DomainError('temporal_unavailable', 503, `Temporal is unavailable: ${detail}`, { retryAfterSeconds: 1 });

/** A wait that ended at its deadline while the last search for a free slot had failed with `cause` (a 503). */
export const waitEndedUnavailable = (resource: string, waitMs: number, cause: DomainError) =>
  new DomainError(
    'temporal_unavailable',
    503,
    `${cause.message}; the last search for a free slot of resource "${resource}" failed, and no slot was granted within waitMs ${waitMs}`,
    { retryAfterSeconds: cause.extra.retryAfterSeconds ?? 1 },
  );

export const shuttingDown = () =>
  new DomainError('shutting_down', 503, 'the service is shutting down; retry on another replica', { retryAfterSeconds: 1 });

export const tooManyWaiters = (resource: string, maxWaiters: number) =>
  new DomainError(
    'too_many_waiters',
    503,
    `waitMs: ${maxWaiters} callers already wait for resource "${resource}" on this replica (MAX_WAITERS_PER_RESOURCE); retry later`,
    { retryAfterSeconds: 1 },
  );
