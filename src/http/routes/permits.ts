import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
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

export interface PermitRoutesOptions {
  permits: PermitService;
  schemas: LimitSchemas;
}

/** The lock API: acquire on a resource; release, renew and check a permit by its runId. */
export const permitRoutes: FastifyPluginAsyncZod<PermitRoutesOptions> = async (app, { permits, schemas }) => {
  app.post('/resources/:resource/acquire', {
    schema: {
      tags: ['permits'],
      summary: 'Acquire a permit on a resource',
      description:
        'Claims one of the resource\'s capacity slots. With waitMs > 0 it waits up to that long for a slot to free. ' +
        'The returned runId is the fencing token; release it with DELETE /permits/{runId}.',
      params: ResourceParamsSchema,
      body: schemas.AcquireBodySchema,
      response: {
        201: AcquiredPermitSchema.describe('Permit granted'),
        400: ErrorSchema,
        409: ErrorSchema.describe('resource_busy (with Retry-After), or capacity_conflict naming the capacity in force in `capacity`'),
        503: ErrorSchema.describe('temporal_unavailable, shutting_down, or too_many_waiters (MAX_WAITERS_PER_RESOURCE), with Retry-After'),
      },
    },
    handler: async (request, reply) => {
      // Taken when the request is already here: the caller sent it earlier, so sent + waitedMs stays before the lease began.
      const arrivedAtMs = Date.now();
      // A caller that hangs up while waiting must stop the wait and must not be left holding a slot.
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableEnded) gone.abort();
      };
      reply.raw.once('close', onClose);
      try {
        const permit = await permits.acquire({ resource: request.params.resource, ...request.body, signal: gone.signal });
        if (gone.signal.aborted) {
          request.log.warn({ runId: permit.runId }, 'caller disconnected before the permit was delivered; releasing it');
          await permits.release(permit.runId);
        }
        // acquiredAt is the service's clock just before the start that claimed the slot: the lease begins no earlier.
        const waitedMs = Math.max(0, Date.parse(permit.acquiredAt) - arrivedAtMs);
        return reply.code(201).send({ ...permit, waitedMs });
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  });

  app.get('/resources/:resource', {
    schema: {
      tags: ['permits'],
      summary: 'List the permits held on a resource',
      params: ResourceParamsSchema,
      querystring: schemas.ResourceQuerySchema,
      response: { 200: ResourceViewSchema, 400: ErrorSchema, 503: ErrorSchema },
    },
    handler: async (request) => permits.viewResource(request.params.resource, request.query.capacity),
  });

  app.get('/permits/:runId', {
    schema: {
      tags: ['permits'],
      summary: 'Check a permit (fencing token)',
      description: '200 only while the permit is held and its lease has not run out.',
      params: RunIdParamsSchema,
      response: {
        200: HeldPermitSchema,
        400: ErrorSchema,
        404: ErrorSchema.describe('No such permit'),
        410: ErrorSchema.describe('permit_ended, with state released or expired'),
        503: ErrorSchema,
      },
    },
    handler: async (request) => permits.status(request.params.runId),
  });

  app.post('/permits/:runId/renew', {
    schema: {
      tags: ['permits'],
      summary: 'Renew a permit\'s lease',
      params: RunIdParamsSchema,
      body: schemas.RenewBodySchema,
      response: {
        200: HeldPermitSchema,
        400: ErrorSchema,
        404: ErrorSchema,
        409: ErrorSchema.describe(
          'max_hold_exceeded: the renewal would pass the maximum hold time; renewal_limit: the permit has been renewed as often as ' +
            'one permit may be (MAX_RENEWALS), or its Temporal history is near its limit. Either way it stays held until its ' +
            'current lease ends; acquire a new permit to go on',
        ),
        410: ErrorSchema,
        503: ErrorSchema,
      },
    },
    handler: async (request) => permits.renew(request.params.runId, request.body?.leaseMs),
  });

  app.delete('/permits/:runId', {
    schema: {
      tags: ['permits'],
      summary: 'Release a permit',
      description: 'After 204 the slot is free for the next acquire.',
      params: RunIdParamsSchema,
      response: {
        204: z.undefined().describe('Released'),
        400: ErrorSchema,
        404: ErrorSchema,
        410: ErrorSchema,
        503: ErrorSchema,
      },
    },
    handler: async (request, reply) => {
      await permits.release(request.params.runId);
      return reply.code(204).send();
    },
  });
};
