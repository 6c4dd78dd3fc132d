// The package's library entry: a typed client of the lock service's HTTP API. It loads zod for the
// shared schemas and nothing of the server (Fastify, Temporal, pino).
export { LockClient } from './lock-client.js';
export type {
  AcquireOptions,
  HistoryOptions,
  HoldersOptions,
  LockClientOptions,
  RenewOptions,
  RequestOptions,
  ResourcesOptions,
} from './lock-client.js';
export { withPermit } from './with-permit.js';
export type { PermitContext, PermitWork, WithPermitOptions } from './with-permit.js';
export { PermitKeeper } from './permit-keeper.js';
export type { PermitKeeperEvent, PermitKeeperOptions } from './permit-keeper.js';
export { compareFencingSeq } from './fencing.js';
export { releaseBestEffort } from './release-best-effort.js';
export type { ReleaseOutcome } from './release-best-effort.js';
export { LockServiceError, LockServiceUnreachableError, PermitLostError } from './errors.js';
export type { LockServiceErrorCode, PermitLostReason } from './errors.js';
export type {
  ErrorBody,
  ErrorCode,
  HeldPermit,
  HistoryEntry,
  HistoryPage,
  Permit,
  PermitEndState,
  ResourceList,
  ResourceView,
} from './types.js';
