import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../../permits/actor.js';
import { tooManyWaitersForKey } from '../../permits/errors.js';
import type { PermitService } from '../../permits/permit-service.js';
import {
  AcquiredPermitSchema,
  ErrorSchema,
  HeldPermitSchema,
  ResourceParamsSchema,
  ResourceViewSchema,
  RunIdParamsSchema,
  type LimitSchemas,
} from '../schemas.js';
import { accessErrors, bodyErrors } from './error-responses.js';

export interface PermitRoutesOptions {
  permits: PermitService;
  schemas: LimitSchemas;
  /** Waiting acquires one key may have on this replica at once (MAX_WAITERS_PER_KEY). */
  maxWaitersPerKey: number;
  actorOf(request: FastifyRequest): Actor;
}

const NOT_HOLDER =
  'permit_not_found: no such permit, or the caller\'s key neither holds it nor is an admin\'s (the two are not told apart)';

/** The lock API: acquire on a resource; release, renew and check a permit by its runId. */
export const permitRoutes: FastifyPluginAsyncZod<PermitRoutesOptions> = async (app, { permits, schemas, maxWaitersPerKey, actorOf }) => {
  /** Waiting acquires in progress on this replica, by key name. */
  const waitersByKey = new Map<string, number>();

  app.post('/resources/:resource/acquire', {
    config: { access: 'write' },
    schema: {
      tags: ['permits'],
      summary: 'Acquire a permit on a resource',
      description:
        'Claims one of the resource\'s capacity slots. With waitMs > 0 it waits up to that long for a slot to free. ' +
        'The returned runId is the fencing token; release it with DELETE /permits/{runId}. The permit belongs to the ' +
        'caller\'s API key: only that key, or an admin key, may release or renew it.',
      params: ResourceParamsSchema,
      body: schemas.AcquireBodySchema,
      response: {
        201: AcquiredPermitSchema.describe('Permit granted'),
        400: ErrorSchema,
        ...accessErrors(),
        ...bodyErrors(),
        409: ErrorSchema.describe('resource_busy (with Retry-After), or capacity_conflict naming the capacity in force in `capacity`'),
        429: ErrorSchema.describe(
          'rate_limited (RATE_LIMIT_PER_SECOND), or too_many_waiters: the key already has MAX_WAITERS_PER_KEY waiting acquires; with Retry-After',
        ),
        503: ErrorSchema.describe('temporal_unavailable, shutting_down, or too_many_waiters (MAX_WAITERS_PER_RESOURCE), with Retry-After'),
      },
    },
    handler: async (request, reply) => {
      // Taken when the request is already here: the caller sent it earlier, so sent + waitedMs stays before the lease began.
      const arrivedAtMs = Date.now();
      const actor = actorOf(request);
      const waiterKey = (request.body?.waitMs ?? 0) > 0 ? actor.keyName : undefined;
      if (waiterKey !== undefined) {
        const waiting = waitersByKey.get(waiterKey) ?? 0;
        if (waiting >= maxWaitersPerKey) throw tooManyWaitersForKey(waiterKey, maxWaitersPerKey);
        waitersByKey.set(waiterKey, waiting + 1);
      }
      // A caller that hangs up while waiting must stop the wait and must not be left holding a slot.
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableEnded) gone.abort();
      };
      reply.raw.once('close', onClose);
      try {
        const permit = await permits.acquire({
          resource: request.params.resource,
          ...request.body,
          owner: actor.keyName,
          signal: gone.signal,
        });
        if (gone.signal.aborted) {
          request.log.warn({ runId: permit.runId }, 'caller disconnected before the permit was delivered; releasing it');
          await permits.release(permit.runId, actor);
        }
        // acquiredAt is the service's clock just before the start that claimed the slot: the lease begins no earlier.
        const waitedMs = Math.max(0, Date.parse(permit.acquiredAt) - arrivedAtMs);
        return reply.code(201).send({ ...permit, waitedMs });
      } finally {
        reply.raw.off('close', onClose);
        if (waiterKey !== undefined) {
          const left = (waitersByKey.get(waiterKey) ?? 1) - 1;
          if (left > 0) waitersByKey.set(waiterKey, left);
          else waitersByKey.delete(waiterKey);
        }
      }
    },
  });

  app.get('/resources/:resource', {
    config: { access: 'read' },
    schema: {
      tags: ['permits'],
      summary: 'List the permits held on a resource',
      description: 'runId and fencingToken are shown only to the key that holds the permit, and to admin keys.',
      params: ResourceParamsSchema,
      querystring: schemas.ResourceQuerySchema,
      response: { 200: ResourceViewSchema, 400: ErrorSchema, ...accessErrors(), 503: ErrorSchema },
    },
    handler: async (request) => permits.viewResource(request.params.resource, request.query.capacity, actorOf(request)),
  });

  app.get('/permits/:runId', {
    config: { access: 'read' },
    schema: {
      tags: ['permits'],
      summary: 'Check a permit (fencing token)',
      description: '200 only while the permit is held and its lease has not run out. Open to any key allowed on the permit\'s resource.',
      params: RunIdParamsSchema,
      response: {
        200: HeldPermitSchema,
        400: ErrorSchema,
        ...accessErrors(),
        404: ErrorSchema.describe('No such permit, or one on a resource the key may not use'),
        410: ErrorSchema.describe('permit_ended, with state released or expired'),
        503: ErrorSchema,
      },
    },
    handler: async (request) => permits.status(request.params.runId, actorOf(request)),
  });

  app.post('/permits/:runId/renew', {
    config: { access: 'write' },
    schema: {
      tags: ['permits'],
      summary: 'Renew a permit\'s lease',
      description: 'Only the key that acquired the permit, or an admin key, may renew it.',
      params: RunIdParamsSchema,
      body: schemas.RenewBodySchema,
      response: {
        200: HeldPermitSchema,
        400: ErrorSchema,
        ...accessErrors(),
        ...bodyErrors(),
        404: ErrorSchema.describe(NOT_HOLDER),
        409: ErrorSchema.describe(
          'max_hold_exceeded: the renewal would pass the maximum hold time; renewal_limit: the permit has been renewed as often as ' +
            'one permit may be (MAX_RENEWALS), or its Temporal history is near its limit. Either way it stays held until its ' +
            'current lease ends; acquire a new permit to go on',
        ),
        410: ErrorSchema,
        503: ErrorSchema,
      },
    },
    handler: async (request) => permits.renew(request.params.runId, request.body?.leaseMs, actorOf(request)),
  });

  app.delete('/permits/:runId', {
    config: { access: 'write' },
    schema: {
      tags: ['permits'],
      summary: 'Release a permit',
      description: 'After 204 the slot is free for the next acquire. Only the key that acquired the permit, or an admin key, may release it.',
      params: RunIdParamsSchema,
      response: {
        204: z.undefined().describe('Released'),
        400: ErrorSchema,
        ...accessErrors(),
        404: ErrorSchema.describe(NOT_HOLDER),
        410: ErrorSchema,
        503: ErrorSchema,
      },
    },
    handler: async (request, reply) => {
      await permits.release(request.params.runId, actorOf(request));
      return reply.code(204).send();
    },
  });
};
