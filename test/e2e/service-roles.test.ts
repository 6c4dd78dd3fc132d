import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { startTestService, testTemporalAddress, uniqueResource } from '../helpers/service.js';
import { spawnWatched } from '../helpers/watched-process.js';

// SERVICE_ROLE splits one replica into an API replica (no worker) and a worker replica (no API), so
// users scale the two separately; they meet on the task queue.

test('a worker-role replica serves no API, only health, readiness and metrics, and runs the permit workflows of an api replica', async (t) => {
  const api = await startTestService(t, { SERVICE_ROLE: 'api' });
  const worker = await startTestService(t, { SERVICE_ROLE: 'worker', TEMPORAL_TASK_QUEUE: api.config.temporal.taskQueue });
  const resource = uniqueResource('roles');
  const runId = randomUUID();

  for (const [method, url] of [
    ['POST', `/resources/${resource}/acquire`],
    ['GET', `/resources/${resource}?capacity=1`],
    ['GET', `/permits/${runId}`],
    ['POST', `/permits/${runId}/renew`],
    ['DELETE', `/permits/${runId}`],
    ['GET', '/openapi.json'],
    ['GET', '/docs'],
    ['GET', '/resources'],
    ['GET', `/resources/${resource}/history`],
    ['GET', '/events'],
    ['GET', '/'],
    ['GET', '/ui'],
    ['GET', '/ui/app.js'],
  ] as const) {
    const answer = await worker.call(method, url);
    assert.equal(answer.status, 404, `${method} ${url} on the worker replica: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, 'not_found', `${method} ${url}`);
  }
  assert.deepEqual((await worker.call('GET', '/healthz')).body, { status: 'ok' });
  const workerReady = await worker.call('GET', '/readyz');
  assert.equal(workerReady.status, 200);
  assert.deepEqual(workerReady.body, { status: 'ready', role: 'worker', temporal: 'reachable', worker: 'RUNNING' });
  const metrics = await worker.call('GET', '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(String(metrics.body), /^# TYPE process_cpu_seconds_total counter$/m);

  const apiReady = await api.call('GET', '/readyz');
  assert.equal(apiReady.status, 200, 'an api replica is ready without a worker of its own');
  assert.deepEqual(apiReady.body, { status: 'ready', role: 'api', temporal: 'reachable', worker: 'none' });

  const acquired = await api.call('POST', `/resources/${resource}/acquire`, { leaseMs: 5_000 });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  // A renewal is an update, which only a worker answers: the worker replica's.
  const renewed = await api.call('POST', `/permits/${acquired.body.runId}/renew`, { leaseMs: 10_000 });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.equal(renewed.body.leaseMs, 10_000);
  assert.equal((await api.call('DELETE', `/permits/${acquired.body.runId}`)).status, 204);
});

test('an api-role service that is stopped leaves nothing running: the process that embedded it ends by itself', { timeout: 120_000 }, async (t) => {
  // Nothing calls process.exit here: the process ends only if stop() released every handle.
  const script = `
    const { loadConfig } = await import('./src/config.js');
    const { startLockService } = await import('./src/lock-service.js');
    const { createLogger } = await import('./src/logger.js');
    const config = loadConfig({ SERVICE_ROLE: 'api', TEMPORAL_ADDRESS: process.env.ADDRESS, TEMPORAL_TASK_QUEUE: 'roles-exit', LOG_LEVEL: 'silent' });
    const service = await startLockService(config, createLogger('silent'));
    await service.stop();
    console.log('stopped');
  `;
  const child = spawnWatched(t, process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ADDRESS: testTemporalAddress() },
  });
  await child.waitForStdout(/stopped/, 60_000);
  const result = await child.finished(20_000);
  assert.equal(result.code, 0, result.stderr);
});
