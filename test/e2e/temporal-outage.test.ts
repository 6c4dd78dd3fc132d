import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createLogger } from '../../src/logger.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { freePort, testCliPath } from '../helpers/process.js';
import { startTestService, uniqueResource, type TestService } from '../helpers/service.js';

const RPC_TIMEOUT_MS = 2_000;
/** "Fast, never a hang": generous for a 2-core machine, far below any client's patience. */
const FAST_MS = 10_000;

async function timedCall(service: TestService, method: string, url: string, body?: unknown) {
  const started = performance.now();
  const response = await service.call(method, url, body);
  return { ...response, ms: performance.now() - started };
}

async function eventually<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await delay(500);
  }
}

test('while Temporal is down every permit call answers 503 temporal_unavailable promptly, and the service recovers when it returns', { timeout: 300_000 }, async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-outage-'));
  const port = await freePort();
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const startServer = () =>
    startDevServer({ cliPath: testCliPath(), dataDir, port, uiPort: 0, namespace: 'default', readyTimeoutMs: 60_000, log });
  let server: DevServer = await startServer();

  const stopServer = async () => {
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  const service = await startTestService(t, {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS),
    // Keeps the after-hook short should the test fail while the server is down.
    SHUTDOWN_TIMEOUT_MS: '5000',
  }).catch(async (error: unknown) => {
    await stopServer();
    throw error;
  });
  // Registered after the service's own after-hook, so the service stops before its server.
  t.after(stopServer);

  const resource = uniqueResource('outage');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 600_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  const { runId } = held.body;

  await server.stop();

  const calls: Array<[string, string, unknown?]> = [
    ['POST', `/resources/${uniqueResource('outage')}/acquire`, { leaseMs: 5_000 }],
    ['POST', `/resources/${uniqueResource('outage')}/acquire`, { leaseMs: 5_000, waitMs: 3_000 }],
    ['GET', `/permits/${runId}`],
    ['POST', `/permits/${runId}/renew`, { leaseMs: 60_000 }],
    ['DELETE', `/permits/${runId}`],
    // A runId this replica never granted has to be looked up in Temporal first.
    ['GET', `/permits/${randomUUID()}`],
    ['DELETE', `/permits/${randomUUID()}`],
    ['GET', `/resources/${resource}?capacity=1`],
    // Without a capacity the view is listed from visibility.
    ['GET', `/resources/${resource}`],
  ];
  // Every call is made before asserting, so one run shows every endpoint that misbehaves.
  const problems: string[] = [];
  for (const [method, url, body] of calls) {
    const response = await timedCall(service, method, url, body);
    const what = `${method} ${url} → ${response.status} ${JSON.stringify(response.body)} in ${Math.round(response.ms)} ms`;
    const ok =
      response.status === 503 &&
      response.body.error === 'temporal_unavailable' &&
      /Temporal/.test(response.body.message) &&
      Number(response.headers['retry-after']) >= 1 &&
      response.ms < FAST_MS;
    if (!ok) problems.push(what);
  }
  assert.deepEqual(problems, [], `expected a prompt 503 temporal_unavailable with Retry-After from each of these`);

  const notReady = await timedCall(service, 'GET', '/readyz');
  assert.equal(notReady.status, 503);
  assert.equal(notReady.body.temporal, 'unreachable');
  assert.ok(notReady.ms < FAST_MS);
  assert.equal((await service.call('GET', '/healthz')).status, 200);

  server = await startServer();

  // gRPC reconnects with exponential backoff, so the first calls after the restart may still fail.
  const ready = await eventually('readiness after the restart', 90_000, async () => {
    const response = await service.call('GET', '/readyz');
    return response.status === 200 ? response : undefined;
  });
  assert.deepEqual(ready.body, { status: 'ready', role: 'all', temporal: 'reachable', worker: 'RUNNING' });

  const fresh = await service.call('POST', `/resources/${uniqueResource('outage')}/acquire`, { leaseMs: 5_000 });
  assert.equal(fresh.status, 201, JSON.stringify(fresh.body));
  // The permit granted before the outage is still held, and its holder can still release it.
  const status = await service.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.equal(status.body.state, 'held');
  assert.equal((await service.call('DELETE', `/permits/${runId}`)).status, 204);
  assert.equal((await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 5_000 })).status, 201);
});
