import { z } from 'zod';

// The wire contract of the lock service's HTTP API: the answers the service sends and the client
// checks. It imports zod alone, so the client package carries it without the server; the server
// builds its routes' responses (and the OpenAPI document) from the same schemas.

export { ROLES, generateKey, sha256Hex, type Role } from './keys.js';

/** Every error code the API can answer with; the HTTP layer renders them as `{ error, message }`. */
export const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'headers_too_large',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'unsupported_media_type',
  'permit_not_found',
  'permit_ended',
  'resource_busy',
  'capacity_conflict',
  'max_hold_exceeded',
  'renewal_limit',
  'temporal_unavailable',
  'shutting_down',
  'too_many_waiters',
  'internal_error',
] as const;


export type ErrorCode = (typeof ERROR_CODES)[number];

/** How an ended permit ended. */
export const PERMIT_END_STATES = ['released', 'expired'] as const;

export type PermitEndState = (typeof PERMIT_END_STATES)[number];

/** How a past permit ended, as the history reports it. */
export const PERMIT_OUTCOMES = ['released', 'expired', 'force_released', 'max_hold', 'terminated'] as const;

export type PermitOutcome = (typeof PERMIT_OUTCOMES)[number];

/** A fencing number: a decimal int64, without leading zeros. */
export const FENCING_SEQ_PATTERN = /^(0|[1-9][0-9]{0,18})$/;

/**
 * Control characters (C0, DEL, C1) and the bidirectional overrides: free text the service stores is
 * printed to terminals (permit holders) and shown in UIs, where these would hide or rewrite what is shown.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

export const ErrorSchema = z
  .object({
    error: z.enum(ERROR_CODES).describe('Machine-readable error code'),
    message: z.string().describe('What was wrong, naming the field where there is one'),
    state: z.enum(PERMIT_END_STATES).optional().describe('How the permit ended (permit_ended only)'),
    capacity: z.number().int().optional().describe('The capacity in force for the resource (capacity_conflict only)'),
  })
  .describe('Every error answer has this shape');

const isoTime = z.string().describe('ISO-8601 time');

export const PermitSchema = z.object({
  runId: z.string().describe('Temporal run ID of the permit workflow; the permit\'s identity'),
  fencingToken: z.string().describe('Equal to runId: pass it downstream and compare for equality'),
  fencingSeq: z
    .string()
    .regex(FENCING_SEQ_PATTERN)
    .describe(
      'Fencing number: a decimal integer (up to int64, so a string: JSON numbers lose precision past 2^53) that is larger for ' +
        'every later grant of the same slot (of the resource, at capacity 1). A resource that refuses writes carrying a number ' +
        'lower than the highest it has seen refuses a holder whose lease ran out. Compare as integers (BigInt, SQL numeric)',
    ),
  workflowId: z.string().describe('permit:<resource>:<slot>'),
  resource: z.string(),
  slot: z.number().int().describe('0..capacity-1'),
  capacity: z.number().int(),
  leaseMs: z.number().int().describe('Lease length last granted'),
  holder: z.string().nullable().describe('Free text given by the holder, for people reading'),
  acquiredAt: isoTime,
  expiresAt: isoTime.describe('The lease ends no later than this unless renewed; the slot is never given away before it'),
});

export const HeldPermitSchema = PermitSchema.extend({ state: z.literal('held') });

export const AcquiredPermitSchema = PermitSchema.extend({
  waitedMs: z
    .number()
    .int()
    .min(0)
    .describe(
      'How long the service had the request before the lease began (waiting for a slot, trying slots). The lease began at ' +
        'least this long after the request was sent: a client that times the lease on its own clock counts it from when ' +
        'it sent the request plus waitedMs, never from when the answer arrived',
    ),
});

/** A holder in a resource view: its token only for the key that holds it, and for admins. */
export const ViewedPermitSchema = PermitSchema.extend({
  runId: PermitSchema.shape.runId.optional().describe('Only for the key that holds the permit, and for admin keys'),
  fencingToken: PermitSchema.shape.fencingToken.optional().describe('Only for the key that holds the permit, and for admin keys'),
});

export const ResourceViewSchema = z.object({
  resource: z.string(),
  capacity: z.number().int(),
  held: z.array(ViewedPermitSchema),
  consistency: z
    .enum(['strong', 'eventual'])
    .describe('strong: every slot was read directly; eventual: listed from Temporal visibility (large or unknown capacity)'),
});

export const ResourceSummarySchema = z.object({
  resource: z.string(),
  capacity: z.number().int().describe('The capacity its holders were granted under (for waiters only: the one they wait under)'),
  holders: z.number().int().describe('Permits held now'),
  earliestExpiresAt: isoTime.nullable().describe('The earliest lease end among the holders; null when nobody holds it'),
  waitingHere: z.number().int().describe('Acquires waiting for it on the replica that answers (not on other replicas)'),
});

export const ResourceListSchema = z.object({
  resources: z.array(ResourceSummarySchema).describe('By name'),
  nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page'),
  consistency: z
    .literal('eventual')
    .describe('Listed from Temporal visibility, which follows grants and releases a moment later'),
  complete: z
    .boolean()
    .describe('False when more permits were held than one listing reads (10,000): some resources may be missing'),
});

export const HistoryEntrySchema = z.object({
  runId: z.string().describe('The permit\'s runId (its fencing token while it was held)'),
  workflowId: z.string().describe('permit:<resource>:<slot>'),
  resource: z.string(),
  slot: z.number().int(),
  capacity: z.number().int(),
  holder: z.string().nullable(),
  leaseMs: z.number().int().describe('The lease length last granted'),
  renewals: z.number().int().describe('Renewals it received'),
  acquiredAt: isoTime.describe(
    'When it was granted: the later of the run\'s recorded start and the close of the run that held the slot before it. ' +
      'Temporal stamps a start before it finds the slot free, so under contention the recorded start can come before ' +
      'the previous holder\'s end; the grant never does',
  ),
  endedAt: isoTime.describe('When its run closed'),
  heldMs: z.number().int().describe('endedAt - acquiredAt'),
  outcome: z
    .enum(PERMIT_OUTCOMES)
    .describe(
      'released: by its holder (a release, or the workflow-side Semaphore\'s signal); expired: the lease ran out ' +
        '(a release that came after that counts as expired); force_released: ended by an operator; max_hold: ended by ' +
        'Temporal at MAX_HOLD_MS; terminated: ended any other way (in the Temporal UI, by a parent workflow that closed)',
    ),
  reason: z.string().nullable().describe('The terminate reason, for a permit whose run was terminated'),
  temporalUiUrl: z.string().nullable().describe('The run in the Temporal Web UI; null when the service does not know where it is'),
});

export const HistoryPageSchema = z.object({
  resource: z.string(),
  entries: z
    .array(HistoryEntrySchema)
    .describe(
      'Newest first (by endedAt). Claims that were never delivered to anyone are left out, so a page may hold fewer than limit',
    ),
  nextBefore: z.string().nullable().describe('Pass as before for the next (older) page; null on the last page'),
  consistency: z.literal('eventual').describe('Listed from Temporal visibility, which follows closes a moment later'),
});

