import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Metrics } from '../../metrics.js';
import { HealthSchema, ReadinessSchema } from '../schemas.js';

export interface Readiness {
  /** False from the moment shutdown begins, so load balancers stop sending traffic. */
  accepting(): boolean;
  temporalReachable(): Promise<boolean>;
  workerState(): string;
}

export interface OperationsRoutesOptions {
  readiness: Readiness;
  metrics: Metrics;
}

/** Health, readiness and metrics for orchestrators and Prometheus. */
export const operationsRoutes: FastifyPluginAsyncZod<OperationsRoutesOptions> = async (app, { readiness, metrics }) => {
  app.get('/healthz', {
    schema: { tags: ['operations'], summary: 'The process is up', response: { 200: HealthSchema } },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    schema: {
      tags: ['operations'],
      summary: 'Temporal is reachable and the worker is running',
      response: { 200: ReadinessSchema, 503: ReadinessSchema },
    },
    handler: async (_request, reply) => {
      const reachable = await readiness.temporalReachable();
      const worker = readiness.workerState();
      const ready = reachable && worker === 'RUNNING' && readiness.accepting();
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not_ready',
        temporal: reachable ? 'reachable' : 'unreachable',
        worker,
      });
    },
  });

  app.get('/metrics', {
    schema: {
      tags: ['operations'],
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
