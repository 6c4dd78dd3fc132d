import { UNPRINTABLE } from 'temporal-lock-client/wire';
import { z } from 'zod';
import { ROLES } from '../auth/roles.js';
import type { Config } from '../config.js';
import { RUN_ID_PATTERN } from '../permits/permit.js';
import { ResourceNameSchema } from '../permits/resource-name.js';
import { parseRunTime } from '../permits/run-time.js';
import { SERVICE_ROLES } from '../service-role.js';

/** Free text for people: no control characters (UNPRINTABLE). */
function printableText(max: number) {
  return z
    .string()
    .max(max)
    .refine((text) => !UNPRINTABLE.test(text), 'must not contain control characters (U+0000-U+001F, U+007F-U+009F) or bidirectional overrides');
}

// One set of zod schemas drives request validation, response serialization, the TypeScript types
// and the OpenAPI document. Bounds come from the configured limits, so they are built per config.
// The answers' schemas are the wire contract the client package shares (temporal-lock-client/wire).
export {
  AcquiredPermitSchema,
  ErrorSchema,
  HeldPermitSchema,
  HistoryEntrySchema,
  HistoryPageSchema,
  PermitSchema,
  ResourceListSchema,
  ResourceSummarySchema,
  ResourceViewSchema,
  UNPRINTABLE,
  ViewedPermitSchema,
} from 'temporal-lock-client/wire';

export const ResourceParamsSchema = z.object({
  resource: ResourceNameSchema.describe('Resource name: 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit'),
});

export const RunIdParamsSchema = z.object({
  runId: z
    .string()
    .regex(RUN_ID_PATTERN, 'must be a permit runId, a lower-case UUID such as 0193c1f2-7a4e-7c51-9d0e-2f6b1c3a9e11')
    .describe('The permit runId (= fencing token) returned by acquire'),
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
