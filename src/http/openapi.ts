import { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import { createLogger } from '../logger.js';
import { Metrics } from '../metrics.js';
import { PermitService } from '../permits/permit-service.js';
import { buildApp } from './app.js';

/**
 * The OpenAPI document exactly as the running service serves it at /openapi.json. No request is
 * handled, so the Temporal client's lazy connection is never opened.
 */
export async function generateOpenApiDocument(config: Config): Promise<unknown> {
  const logger = createLogger('silent');
  const metrics = new Metrics();
  const permits = PermitService.fromConfig(config, { client: new Client() }, metrics, logger);
  const app = await buildApp({
    permits,
    metrics,
    limits: config.limits,
    http: config.http,
    keys: () => undefined,
    events: config.events,
    logger,
    readiness: { role: config.role, accepting: () => false, temporalReachable: async () => false, workerState: () => 'INITIALIZED' },
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
  }
}
