import { z } from 'zod';
import type { Config } from '../config.js';
import { RUN_ID_PATTERN } from '../permits/permit.js';
import { ResourceNameSchema } from '../permits/resource-name.js';
import { SERVICE_ROLES } from '../service-role.js';

// One set of zod schemas drives request validation, response serialization, the TypeScript types
// and the OpenAPI document. Bounds come from the configured limits, so they are built per config.
// The answers' schemas are the wire contract the client package shares (temporal-lock-client/wire).
export {
  AcquiredPermitSchema,
  ErrorSchema,
  HeldPermitSchema,
  PermitSchema,
  ResourceViewSchema,
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
