import { z } from 'zod';
import { ROLES } from '../auth/roles.js';
import type { Config } from '../config.js';
import { PERMIT_OUTCOMES } from '../permits/close-reasons.js';
import { ERROR_CODES } from '../permits/errors.js';
import { FENCING_SEQ_PATTERN, RUN_ID_PATTERN } from '../permits/permit.js';
import { ResourceNameSchema } from '../permits/resource-name.js';
import { parseRunTime } from '../permits/run-time.js';
import { SERVICE_ROLES } from '../service-role.js';

/**
 * Control characters (C0, DEL, C1) and the bidirectional overrides: free text the service stores is
 * printed to terminals (permit holders) and shown in UIs, where these would hide or rewrite what is shown.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Free text for people: no control characters. */
function printableText(max: number) {
  return z
    .string()
    .max(max)
    .refine((text) => !UNPRINTABLE.test(text), 'must not contain control characters (U+0000-U+001F, U+007F-U+009F) or bidirectional overrides');
}

// One set of zod schemas drives request validation, response serialization, the TypeScript types
// and the OpenAPI document. Bounds come from the configured limits, so they are built per config.

export const ErrorSchema = z
  .object({
    error: z.enum(ERROR_CODES).describe('Machine-readable error code'),
    message: z.string().describe('What was wrong, naming the field where there is one'),
    state: z.enum(['released', 'expired']).optional().describe('How the permit ended (permit_ended only)'),
    capacity: z.number().int().optional().describe('The capacity in force for the resource (capacity_conflict only)'),
  })
  .describe('Every error answer has this shape');

export const ResourceParamsSchema = z.object({
  resource: ResourceNameSchema.describe('Resource name: 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit'),
});

export const RunIdParamsSchema = z.object({
  runId: z
    .string()
    .regex(RUN_ID_PATTERN, 'must be a permit runId, a lower-case UUID such as 0193c1f2-7a4e-7c51-9d0e-2f6b1c3a9e11')
    .describe('The permit runId (= fencing token) returned by acquire'),
});

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

export const CapacitySchema = z.object({
  resource: z.string(),
  capacity: z.number().int().describe('The capacity in force for the resource from now on'),
});

export const KeyListSchema = z.object({
  keys: z.array(
    z.object({
      name: z.string(),
      role: z.enum(ROLES),
      prefixes: z.array(z.string()).describe('Resource-name prefixes the key may use; "*" is every resource'),
    }),
  ),
});

export const ResourceListQuerySchema = z.strictObject({
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{0,128}$/, 'must be the start of a resource name: at most 128 of A-Z a-z 0-9 . _ -')
    .default('')
    .describe('Only resources whose names start with this'),
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('Resources per page, 1..500; default 100'),
  cursor: ResourceNameSchema.optional().describe('The nextCursor of the previous page'),
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

export const HistoryQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Permits per page, 1..100; default 20'),
  before: z
    .string()
    .refine((text) => parseRunTime(text) !== undefined, {
      message: 'must be a time in UTC such as 2026-12-01T17:02:03.123456789Z (the nextBefore of the previous page)',
    })
    .optional()
    .describe('Only permits that ended before this time: the nextBefore of the previous page'),
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

export const HealthSchema = z.object({ status: z.literal('ok') });

export const ReadinessSchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  role: z
    .enum(SERVICE_ROLES)
    .describe('What this process runs (SERVICE_ROLE): all = API and worker, api = API only, worker = worker only'),
  temporal: z.enum(['reachable', 'unreachable']),
  worker: z.string().describe('Temporal worker state, RUNNING when healthy; "none" where the role runs no worker (api)'),
});

/** Schemas whose bounds depend on the configured limits. */
export function createLimitSchemas(limits: Config['limits']) {
  const leaseMs = z
    .number()
    .int()
    .min(1_000)
    .max(limits.maxLeaseMs)
    .describe(`Lease length in ms, 1000..${limits.maxLeaseMs}`);
  const capacity = z.number().int().min(1).max(limits.maxCapacity);
  return {
    AcquireBodySchema: z
      .strictObject({
        leaseMs: leaseMs.optional().describe(`Lease length in ms, 1000..${limits.maxLeaseMs}; default ${limits.defaultLeaseMs}`),
        capacity: capacity
          .optional()
          .describe(
            `Holders allowed at once, 1..${limits.maxCapacity}; default: the capacity in force (configured, else the holders'), else 1. ` +
              'While the resource has holders, another capacity is refused with capacity_conflict',
          ),
        waitMs: z
          .number()
          .int()
          .min(0)
          .max(limits.maxWaitMs)
          .optional()
          .describe(`How long to wait for a free slot, 0..${limits.maxWaitMs}; default 0 (try once)`),
        holder: printableText(limits.maxHolderLength)
          .optional()
          .describe(`Who holds the permit, for people reading: at most ${limits.maxHolderLength} characters (MAX_HOLDER_LENGTH), no control characters`),
      })
      // A bodyless POST reaches the validator as null; both mean "no options".
      .nullish(),
    RenewBodySchema: z
      .strictObject({
        leaseMs: leaseMs.optional().describe('New lease length from now; default: the length the permit was acquired with'),
      })
      .nullish(),
    ForceReleaseBodySchema: z.strictObject({
      reason: printableText(500)
        .min(1)
        .describe('Why the permit is taken from its holder (1-500 characters); kept in the run\'s close record and logged'),
    }),
    CapacityBodySchema: z.strictObject({
      capacity: capacity.describe(`The capacity to put in force, 1..${limits.maxCapacity}`),
    }),
    ResourceQuerySchema: z.strictObject({
      capacity: z.coerce
        .number()
        .int()
        .min(1)
        .max(limits.maxCapacity)
        .optional()
        .describe('Slots to read; default: the capacity in force'),
    }),
  };
}

export type LimitSchemas = ReturnType<typeof createLimitSchemas>;
