import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { SHUTDOWN_PHASES, freePort, http, processGone, spawnService, startService, tempDataDir, type HttpResponse } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';

const SHUTDOWN_TIMEOUT_MS = 15_000;

test('SIGTERM answers a waiting acquire with 503 shutting_down, finishes a request in flight and exits promptly', { timeout: 300_000 }, async (t) => {
  const dataDir = await tempDataDir(t);
  const service = await startService(t, {
    dataDir,
    // A runId nobody granted is looked up in visibility for this long before the 404, which keeps
    // that request in flight across the SIGTERM.
    env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), VISIBILITY_LOOKUP_WAIT_MS: '5000' },
  });
  const resource = uniqueResource('shutdown');
  const holder = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 600_000 });
  assert.equal(holder.status, 201, JSON.stringify(holder.body));

  // Request ids tell these log lines apart from the holder's, which has the same URL.
  const waiterId = `waiter-${randomUUID()}`;
  const lookupId = `lookup-${randomUUID()}`;
  const settle = (request: Promise<HttpResponse>) =>
    request.catch((error: unknown) => new Error(`no answer: ${String(error)} ${String((error as Error).cause ?? '')}`));
  // fetch keeps connections alive, as most HTTP clients and load balancers do.
  const waiting = settle(
    http('POST', `${service.url}/resources/${resource}/acquire`, { waitMs: 30_000 }, { timeoutMs: 60_000, headers: { 'x-request-id': waiterId } }),
  );
  const lookup = settle(http('GET', `${service.url}/permits/${randomUUID()}`, undefined, { timeoutMs: 60_000, headers: { 'x-request-id': lookupId } }));
  for (const id of [waiterId, lookupId]) {
    await service.waitForLog(`request ${id} to arrive`, (line) => line.msg === 'incoming request' && line.reqId === id, 30_000);
  }

  const signalled = performance.now();
  service.child.kill('SIGTERM');

  const answer = await waiting;
  assert.ok(!(answer instanceof Error), `waiting acquire: ${String(answer)}`);
  assert.equal(answer.status, 503, JSON.stringify(answer.body));
  assert.equal(answer.body.error, 'shutting_down');
  assert.equal(typeof answer.body.message, 'string');
  assert.ok(Number(answer.headers.get('retry-after')) >= 1, 'no Retry-After on shutting_down');

  const finished = await lookup;
  assert.ok(!(finished instanceof Error), `request in flight: ${String(finished)}`);
  assert.equal(finished.status, 404, JSON.stringify(finished.body));
  assert.equal(finished.body.error, 'permit_not_found');

  const exit = await service.waitForExit(SHUTDOWN_TIMEOUT_MS + 30_000);
  const exitMs = performance.now() - signalled;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(service.logs.some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'), 'no "shutting down" line naming SIGTERM');
  // A phase that hits its timeout logs "timed out" instead of "done", so this also says none stalled.
  assert.deepEqual(
    service.logs.filter((line) => typeof line.phase === 'string').map((line) => `${line.msg}: ${String(line.phase)}`),
    SHUTDOWN_PHASES.map((phase) => `shutdown phase done: ${phase}`),
  );
  assert.equal(service.logs.at(-1)?.msg, 'stopped', `last lines: ${JSON.stringify(service.logs.slice(-3))}`);
  assert.ok(exitMs < SHUTDOWN_TIMEOUT_MS, `shutdown took ${Math.round(exitMs)} ms`);
  assert.ok(processGone(service.serverPid), 'the embedded dev server outlived the service');
});

test('a bad PORT stops start-up with a non-zero exit and a message naming PORT', { timeout: 120_000 }, async (t) => {
  const dataDir = await tempDataDir(t);
  const service = spawnService(t, dataDir, { PORT: 'abc', TEMPORAL_DEV_PORT: String(await freePort()) });
  const exit = await service.waitForExit(60_000);
  assert.notEqual(exit.code, 0);
  assert.equal(exit.signal, null);
  assert.match(service.stderr(), /PORT/);
  assert.match(service.stderr(), /abc/);
  assert.doesNotMatch(service.stderr(), /\n\s+at /, 'a configuration error should not print a stack trace');
  assert.equal(service.logs.some((line) => line.msg === 'starting embedded Temporal dev server'), false);
});
