import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../../metrics.js';
import type { ServiceRole } from '../../service-role.js';
import { HealthSchema, ReadinessSchema } from '../schemas.js';

export interface Readiness {
  /** What this process runs (SERVICE_ROLE). */
  role: ServiceRole;
  /** False from the moment shutdown begins, so load balancers stop sending traffic. */
  accepting(): boolean;
  temporalReachable(): Promise<boolean>;
  /** The Temporal worker's state; "none" where the role runs no worker. */
  workerState(): string;
}

export interface OperationsRoutesOptions {
  readiness: Readiness;
  metrics: Metrics;
}

/** Health, readiness and metrics for orchestrators and Prometheus. */
export const operationsRoutes: FastifyPluginAsyncZod<OperationsRoutesOptions> = async (app, { readiness, metrics }) => {
  // Probes and scrapers need no key and are never rate-limited.
  app.get('/healthz', {
    config: { rateLimit: false },
    schema: { tags: ['operations'], summary: 'The process is up', security: [], response: { 200: HealthSchema } },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    config: { rateLimit: false },
    schema: {
      tags: ['operations'],
      security: [],
      summary: 'Temporal is reachable and, where this process runs one (SERVICE_ROLE all or worker), the worker is running',
      response: { 200: ReadinessSchema, 503: ReadinessSchema },
    },
    handler: async (_request, reply) => {
      const reachable = await readiness.temporalReachable();
      const worker = readiness.workerState();
      // An API replica runs no worker, so none is needed for it to serve; its permits' runs need a
      // worker replica somewhere, or acquires end them at their lease end (see EXPIRED_LEASE_GRACE_MS).
      const workerReady = readiness.role === 'api' || worker === 'RUNNING';
      const ready = reachable && workerReady && readiness.accepting();
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not_ready',
        role: readiness.role,
        temporal: reachable ? 'reachable' : 'unreachable',
        worker,
      });
    },
  });

  app.get('/metrics', {
    config: { rateLimit: false },
    schema: {
      tags: ['operations'],
      security: [],
      summary: 'Prometheus metrics',
      produces: ['text/plain'],
      response: { 200: z.string().describe('Prometheus text exposition format') },
    },
    handler: async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  });
};
