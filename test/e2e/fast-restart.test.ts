import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { http, startReplica } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';

const MISS = 'workflow bundle cache miss: bundled and cached';
const HIT = 'workflow bundle cache hit: not bundling';

test('a restarted replica takes its workflow bundle from the cache instead of bundling again, and its worker runs permits', { timeout: 300_000 }, async (t) => {
  const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-bundle-cache-'));
  t.after(() => fs.rm(cacheDir, { recursive: true, force: true }));
  const env = { WORKFLOW_BUNDLE_DIR: cacheDir, TEMPORAL_TASK_QUEUE: `restart-${randomUUID()}` };

  const first = await startReplica(t, env);
  const made = first.logs.find((line) => line.msg === MISS);
  assert.ok(made, 'the first start bundles its workflow code and caches it');
  first.child.kill('SIGTERM');
  assert.equal((await first.waitForExit(60_000)).code, 0);

  const second = await startReplica(t, env);
  const hit = second.logs.find((line) => line.msg === HIT);
  assert.ok(hit, 'the second start says it took the cached bundle');
  assert.equal(hit.bundleKey, made.bundleKey);
  assert.ok(!second.logs.some((line) => line.msg === MISS), 'the second start does not bundle');
  const listening = second.logs.find((line) => line.msg === 'lock service listening');
  const startup = listening?.startupMsSinceProcessStart as Record<string, number> | undefined;
  assert.ok(startup && startup.accepting! > 0 && startup.ready! >= Math.max(startup.accepting!, startup.workerRunning!), 'the start-up steps are logged with their times');

  assert.equal((await http('GET', `${second.url}/readyz`)).status, 200);
  // A renewal is an update the worker must run: the cached bundle is the permit workflow, working.
  const resource = uniqueResource('restart-bundle');
  const acquired = await http('POST', `${second.url}/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  const renewed = await http('POST', `${second.url}/permits/${acquired.body.runId}/renew`, { leaseMs: 60_000 });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  assert.equal((await http('DELETE', `${second.url}/permits/${acquired.body.runId}`)).status, 204);
});
