import { DomainError, temporalUnavailable } from './errors.js';

/** gRPC status codes (fixed by the gRPC spec) that mean "the server cannot answer now". */
const UNAVAILABLE_CODES: ReadonlyMap<number, string> = new Map([
  [1, 'CANCELLED'],
  [4, 'DEADLINE_EXCEEDED'],
  [8, 'RESOURCE_EXHAUSTED'],
  [14, 'UNAVAILABLE'],
]);

/** gRPC NOT_FOUND: raw workflowService calls throw it for a run or workflow ID the server does not have. */
export const GRPC_NOT_FOUND = 5;

/** The gRPC status code anywhere in an error's cause chain, if there is one. */
export function grpcCode(error: unknown): number | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True for a failure that says only "Temporal cannot answer now" (503 temporal_unavailable), so a retry may succeed. */
export function isTransientTemporalError(error: unknown): error is DomainError {
  return error instanceof DomainError && error.code === 'temporal_unavailable';
}

/**
 * Turns a Temporal failure that is not part of the permit protocol into a DomainError:
 * an unreachable or overloaded server becomes 503 with Retry-After; anything else stays a 500.
 */
export function toDomainError(error: unknown): Error {
  if (error instanceof DomainError) return error;
  const code = grpcCode(error);
  const unavailable = code === undefined ? undefined : UNAVAILABLE_CODES.get(code);
  if (unavailable) return temporalUnavailable(unavailable);
  if (error instanceof Error && /deadline|UNAVAILABLE|ECONNREFUSED|Connection dropped/i.test(error.message)) {
    return temporalUnavailable(error.message.split('\n')[0] ?? 'unreachable');
  }
  return error instanceof Error ? error : new Error(String(error));
}
