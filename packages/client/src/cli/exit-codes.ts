import { constants } from 'node:os';
import { LockServiceError, LockServiceUnreachableError, PermitLostError, type PermitLostReason } from '../client/errors.js';
import { DurationError } from './duration.js';

// One table of exit codes, shown by --help and the README. The CLI's own codes come from
// sysexits.h where one fits, so they stay clear of the 1-2 most commands use and of 128+signal.
export const EXIT = {
  /** Done; for `run`, the command's own code is passed through instead. */
  ok: 0,
  /** Bad usage: unknown option, bad duration, missing command; or the service refused the request as given (400, capacity_conflict). */
  usage: 64,
  /** The service is unreachable, timed out, or answered 5xx / something that is not the lock API. */
  unavailable: 69,
  /** A bug in this CLI. */
  software: 70,
  /** Busy: no slot was free within --wait. */
  busy: 75,
  /** The permit is lost or ended: renew answered 410/404, renewals failed until the lease ran out, or it can no longer be renewed. */
  lost: 76,
  /**
   * The service (or a gateway in front of it) refused the API key: none, unknown, or not allowed to do
   * this (401/403); for `run`, also a permit lost because its renewals were refused so.
   */
  noPermission: 77,
  /** `run`: the command was found but could not be executed (like a shell). */
  cannotExecute: 126,
  /** `run`: the command was not found (like a shell). */
  commandNotFound: 127,
} as const;

/** A mistake in the command line; the message says which. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code a shell gives a command killed by this signal: 128 + its number. */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** The exit code of `run` for a permit lost while the command ran; tsc wants each new reason given one here. */
function exitCodeForLoss(reason: PermitLostReason): number {
  switch (reason) {
    case 'key_refused':
      // A key refused while renewing says what every other refused key says: fix the key, not the lock.
      return EXIT.noPermission;
    case 'ended':
    case 'unconfirmed':
    case 'max_hold':
    case 'renewal_limit':
    case 'renewal_refused':
      return EXIT.lost;
  }
}

/** The exit code that tells a script what kind of failure this was. */
export function exitCodeForError(error: unknown): number {
  if (error instanceof UsageError || error instanceof DurationError) return EXIT.usage;
  if (error instanceof PermitLostError) return exitCodeForLoss(error.reason);
  if (error instanceof LockServiceUnreachableError) return EXIT.unavailable;
  if (error instanceof LockServiceError) {
    switch (error.code) {
      case 'resource_busy':
        return EXIT.busy;
      case 'permit_ended':
      case 'permit_not_found':
      case 'max_hold_exceeded':
      case 'renewal_limit':
        return EXIT.lost;
      case 'invalid_request':
      case 'capacity_conflict':
      case 'payload_too_large':
        return EXIT.usage;
      default:
        if (error.status === 401 || error.status === 403) return EXIT.noPermission;
        return EXIT.unavailable;
    }
  }
  return EXIT.software;
}
