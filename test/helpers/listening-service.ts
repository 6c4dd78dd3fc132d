import type { TestContext } from 'node:test';
import type { Config } from '../../src/config.js';
import { startLockService, type LockService } from '../../src/lock-service.js';
import { createLogger } from '../../src/logger.js';
import { testConfig } from './service.js';

export interface ListeningService extends LockService {
  url: string;
  config: Config;
}

/**
 * The whole service (worker + HTTP) listening on a free port of 127.0.0.1, for clients that talk
 * real HTTP: the CLI, the typed client, the examples. Stopped after the test; without a test
 * context (one service for a whole file) the caller stops it in a top-level `after`.
 */
export async function startListeningService(
  t: TestContext | undefined,
  env: Record<string, string> = {},
): Promise<ListeningService> {
  const config = testConfig({ PORT: '0', HOST: '127.0.0.1', ...env });
  const bundlePath = process.env.LOCK_TEST_WORKFLOW_BUNDLE;
  const service = await startLockService(config, createLogger(config.logLevel), {
    listen: true,
    workflowBundle: bundlePath ? { codePath: bundlePath } : undefined,
  });
  t?.after(() => service.stop());
  if (!service.url) throw new Error('the service did not report its URL');
  return { ...service, url: service.url, config };
}
