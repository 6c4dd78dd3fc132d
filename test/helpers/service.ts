import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadConfig, type Config } from '../../src/config.js';
import { startLockService, type LockService } from '../../src/lock-service.js';
import { createLogger } from '../../src/logger.js';

/** The address of the real Temporal dev server that test/run.ts started. */
export function testTemporalAddress(): string {
  const address = process.env.TEMPORAL_TEST_ADDRESS;
  if (!address) throw new Error('TEMPORAL_TEST_ADDRESS is not set: run the tests with `npm test`');
  return address;
}

/** A resource name no other test uses. */
export function uniqueResource(prefix = 'res'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
}

export interface TestService extends LockService {
  config: Config;
  /** app.inject() with JSON in and JSON out. */
  call(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
}

export interface TestResponse {
  status: number;
  body: any;
  headers: LightMyRequestResponse['headers'];
}

/**
 * Starts the whole service (worker + HTTP app, no listening) against the test Temporal server.
 * Pass the same TEMPORAL_TASK_QUEUE to two services to get two replicas; `listen` also serves real HTTP
 * on a free loopback port (service.url).
 */
export async function startTestService(
  t: TestContext | undefined,
  env: Record<string, string> = {},
  { listen = false } = {},
): Promise<TestService> {
  // PORT 0: the system picks a free port (service.url says which), so test files cannot race for one.
  const config = testConfig(listen ? { PORT: '0', ...env } : env);
  const bundlePath = process.env.LOCK_TEST_WORKFLOW_BUNDLE;
  const service = await startLockService(config, createLogger(config.logLevel), {
    listen,
    workflowBundle: bundlePath ? { codePath: bundlePath } : undefined,
  });
  t?.after(() => service.stop());
  const call: TestService['call'] = async (method, url, body, headers = {}) => {
    const response = await service.app.inject({
      method: method as 'GET',
      url,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    let parsed: unknown = response.body;
    if (String(response.headers['content-type'] ?? '').includes('json') && response.body !== '') {
      parsed = JSON.parse(response.body);
    }
    return { status: response.statusCode, body: parsed, headers: response.headers };
  };
  return { ...service, config, call };
}
