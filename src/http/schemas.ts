import { z } from 'zod';
import type { Config } from '../config.js';
import { ERROR_CODES } from '../permits/errors.js';
import { FENCING_SEQ_PATTERN, RUN_ID_PATTERN } from '../permits/permit.js';
import { ResourceNameSchema } from '../permits/resource-name.js';
import { SERVICE_ROLES } from '../service-role.js';

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

export const ResourceViewSchema = z.object({
  resource: z.string(),
  capacity: z.number().int(),
  held: z.array(PermitSchema),
  consistency: z
    .enum(['strong', 'eventual'])
    .describe('strong: every slot was read directly; eventual: listed from Temporal visibility (large or unknown capacity)'),
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
        holder: z.string().max(256).optional().describe('Who holds the permit, for people reading (at most 256 characters)'),
      })
      // A bodyless POST reaches the validator as null; both mean "no options".
      .nullish(),
    RenewBodySchema: z
      .strictObject({
        leaseMs: leaseMs.optional().describe('New lease length from now; default: the length the permit was acquired with'),
      })
      .nullish(),
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
