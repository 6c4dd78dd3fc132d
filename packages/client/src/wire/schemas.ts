import { z } from 'zod';

// The wire contract of the lock service's HTTP API: the answers the service sends and the client
// checks. It imports zod alone, so the client package carries it without the server; the server
// builds its routes' responses (and the OpenAPI document) from the same schemas.

/** Every error code the API can answer with. */
export const ERROR_CODES = [
  'invalid_request',
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
