import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../permits/actor.js';
import type { PermitService } from '../../permits/permit-service.js';
import { parseRunTime } from '../../permits/run-time.js';
import {
  ErrorSchema,
  HistoryPageSchema,
  HistoryQuerySchema,
  ResourceListQuerySchema,
  ResourceListSchema,
  ResourceParamsSchema,
} from '../schemas.js';
import { accessErrors } from './error-responses.js';

export interface ResourceRoutesOptions {
  permits: PermitService;
  /** The caller as the permits layer sees it (its key's prefixes). */
  actorOf(request: FastifyRequest): Actor;
}

/** Who holds what: the resources with holders, and the past permits of one resource. */
export const resourceRoutes: FastifyPluginAsyncZod<ResourceRoutesOptions> = async (app, { permits, actorOf }) => {
  app.get('/resources', {
    config: { access: 'read' },
    schema: {
      tags: ['resources'],
      summary: 'List the resources that have holders now',
      description:
        'From Temporal visibility (eventually consistent: a grant or release shows a moment later), by name, paginated. ' +
        'One listing reads at most 10,000 held permits; `complete` says whether it read them all. ' +
        'Resources with acquires waiting on the answering replica are listed too. With API keys, only the ' +
        'resources within the key\'s prefixes.',
      querystring: ResourceListQuerySchema,
      response: { 200: ResourceListSchema, 400: ErrorSchema, ...accessErrors(), 503: ErrorSchema },
    },
    handler: async (request) => {
      const { prefix, limit, cursor } = request.query;
      return { ...(await permits.listResources(prefix, limit, cursor, actorOf(request))), consistency: 'eventual' as const };
    },
  });

  app.get('/resources/:resource/history', {
    config: { access: 'read' },
    schema: {
      tags: ['resources'],
      summary: 'The past permits of a resource, newest first',
      description:
        'Every permit whose run has closed, from Temporal visibility (eventually consistent), kept as long as the ' +
        'namespace\'s retention keeps closed runs. A page costs two visibility lists and one history read per permit ' +
        'ended by a terminate (a release) that this replica has not read before.',
      params: ResourceParamsSchema,
      querystring: HistoryQuerySchema,
      response: { 200: HistoryPageSchema, 400: ErrorSchema, ...accessErrors(), 503: ErrorSchema },
    },
    handler: async (request) => {
      const { limit, before } = request.query;
      const page = await permits.resourceHistory(request.params.resource, limit, before === undefined ? undefined : parseRunTime(before));
      return { ...page, consistency: 'eventual' as const };
    },
  });
};
