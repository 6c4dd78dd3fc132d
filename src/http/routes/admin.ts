import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../../permits/actor.js';
import type { PermitService } from '../../permits/permit-service.js';
import type { KeysInForce } from '../authentication.js';
import { CapacitySchema, ErrorSchema, KeyListSchema, ResourceParamsSchema, RunIdParamsSchema, type LimitSchemas } from '../schemas.js';
import { accessErrors, bodyErrors } from './error-responses.js';

export interface AdminRoutesOptions {
  permits: PermitService;
  schemas: LimitSchemas;
  keys: KeysInForce;
  actorOf(request: FastifyRequest): Actor;
}

/** What only admin keys may do: take a permit from its holder, set a resource's capacity, list the keys. */
export const adminRoutes: FastifyPluginAsyncZod<AdminRoutesOptions> = async (app, { permits, schemas, keys, actorOf }) => {
  app.post('/permits/:runId/force-release', {
    config: { access: 'admin' },
    schema: {
      tags: ['admin'],
      summary: 'Force-release a permit (admin)',
      description:
        'Ends any permit, whoever holds it. The run\'s close record in Temporal keeps the terminate reason ' +
        '"force-released by <admin key name>: <reason> (release <id>)", and the service logs it.',
      params: RunIdParamsSchema,
      body: schemas.ForceReleaseBodySchema,
      response: {
        204: z.undefined().describe('Released; the slot is free for the next acquire'),
        400: ErrorSchema,
        ...accessErrors(),
        ...bodyErrors(),
        404: ErrorSchema.describe('No such permit'),
        410: ErrorSchema.describe('permit_ended: it had already ended'),
        503: ErrorSchema,
      },
    },
    handler: async (request, reply) => {
      await permits.release(request.params.runId, actorOf(request), { reason: request.body.reason });
      return reply.code(204).send();
    },
  });

  app.put('/resources/:resource/capacity', {
    config: { access: 'admin' },
    schema: {
      tags: ['admin'],
      summary: 'Set a resource\'s capacity (admin)',
      description:
        'Puts the capacity in force by the capacity rule, as an acquire naming it would, without taking a permit: while ' +
        'nobody holds the resource it is set at once (every replica stops granting under the old one first); while ' +
        'anyone holds it, or when RESOURCE_CAPACITIES configures it, another capacity is refused with capacity_conflict.',
      params: ResourceParamsSchema,
      body: schemas.CapacityBodySchema,
      response: {
        200: CapacitySchema,
        400: ErrorSchema,
        ...accessErrors(),
        ...bodyErrors(),
        409: ErrorSchema.describe(
          'capacity_conflict: holders remain under the capacity in force (named in `capacity`), or it is configured; ' +
            'resource_busy: a change is being decided, retry shortly',
        ),
        503: ErrorSchema,
      },
    },
    handler: async (request) => {
      const { resource } = request.params;
      const capacity = await permits.setCapacity(resource, request.body.capacity);
      request.log.info({ resource, capacity, by: actorOf(request).keyName }, 'capacity set by an admin');
      return { resource, capacity };
    },
  });

  app.get('/keys', {
    config: { access: 'admin' },
    schema: {
      tags: ['admin'],
      summary: 'List the API keys by name (admin)',
      description: 'Names, roles and prefixes; never a key or its hash. Empty when the service checks no keys.',
      response: { 200: KeyListSchema, ...accessErrors() },
    },
    handler: async () => ({
      keys: (keys()?.list() ?? []).map((key) => ({ ...key, prefixes: key.prefixes.map((prefix) => prefix || '*') })),
    }),
  });
};
