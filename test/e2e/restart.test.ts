import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { http, processGone, processGroupMembers, startService, tempDataDir, waitUntilGone, type RunningService } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';

// Long enough to outlive two service start-ups on a slow machine: only a release may end these permits.
const LEASE_MS = 600_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

async function acquire(service: RunningService, resource: string) {
  const response = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: LEASE_MS, holder: 'restart test' });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body as { runId: string; workflowId: string };
}

test('permits survive a full restart of the service, and one acquired before it is released within 2 s', { timeout: 600_000 }, async (t) => {
  const dataDir = await tempDataDir(t);
  const env = { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) };
  const first = await startService(t, { dataDir, env });
  const released = uniqueResource('restart');
  const checked = uniqueResource('restart');
  const toRelease = await acquire(first, released);
  const toCheck = await acquire(first, checked);

  first.child.kill('SIGTERM');
  // close-with-grace exits 1 when shutdown outlasts its delay, so exit code 0 means it finished in time.
  const exit = await first.waitForExit(SHUTDOWN_TIMEOUT_MS + 30_000);
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(processGone(first.serverPid), `dev server ${first.serverPid} outlived the service`);
  assert.equal(fs.existsSync(path.join(dataDir, 'temporal-dev-server.pid')), false);

  const second = await startService(t, { dataDir, devPort: first.devPort, env });

  // The new process has never seen this runId, so this is the cold path: find it, then terminate it.
  const release = await http('DELETE', `${second.url}/permits/${toRelease.runId}`);
  assert.equal(release.status, 204, JSON.stringify(release.body));
  assert.ok(release.ms < 2_000, `release after restart took ${Math.round(release.ms)} ms`);
  const reacquired = await http('POST', `${second.url}/resources/${released}/acquire`, { leaseMs: 5_000 });
  assert.equal(reacquired.status, 201, JSON.stringify(reacquired.body));
  assert.notEqual(reacquired.body.runId, toRelease.runId);

  const status = await http('GET', `${second.url}/permits/${toCheck.runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.equal(status.body.state, 'held');
  assert.equal(status.body.workflowId, toCheck.workflowId);
  const busy = await http('POST', `${second.url}/resources/${checked}/acquire`);
  assert.equal(busy.status, 409);
  assert.equal(busy.body.error, 'resource_busy');
  assert.equal((await http('DELETE', `${second.url}/permits/${toCheck.runId}`)).status, 204);
  assert.equal((await http('POST', `${second.url}/resources/${checked}/acquire`, { leaseMs: 5_000 })).status, 201);

  second.child.kill('SIGTERM');
  assert.equal((await second.waitForExit(SHUTDOWN_TIMEOUT_MS + 30_000)).code, 0);
});

test('a dev server left behind by a service killed together with its supervisor is replaced on the next start, and its permits stay valid', { timeout: 600_000 }, async (t) => {
  const dataDir = await tempDataDir(t);
  const first = await startService(t, { dataDir });
  const resource = uniqueResource('leftover');
  const permit = await acquire(first, resource);

  // A killed service alone no longer leaves its server behind (signals.test.ts): the supervisor stops
  // it. Killing everything but the server (the supervisor and its pipe watcher, then the service)
  // does: the server lives on, orphaned, holding the port and the database.
  assert.ok(first.supervisorPid !== undefined, 'the service logs its dev server supervisor');
  for (const pid of processGroupMembers(first.supervisorPid)) {
    if (pid !== first.serverPid) process.kill(pid, 'SIGKILL');
  }
  process.kill(first.pid, 'SIGKILL');
  await first.waitForExit(10_000);
  assert.equal(processGone(first.serverPid), false, 'precondition: the dev server should outlive its supervisor and service');

  const second = await startService(t, { dataDir, devPort: first.devPort });
  assert.notEqual(second.serverPid, first.serverPid);
  assert.ok(await waitUntilGone(first.serverPid, 5_000), `leftover dev server ${first.serverPid} still runs`);
  assert.ok(
    second.logs.some((line) => line.msg === 'replacing a Temporal dev server left behind by an earlier run' && line.serverPid === first.serverPid),
    'the new service should say it replaced the leftover server',
  );

  const status = await http('GET', `${second.url}/permits/${permit.runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.equal(status.body.state, 'held');
  const release = await http('DELETE', `${second.url}/permits/${permit.runId}`);
  assert.equal(release.status, 204, JSON.stringify(release.body));
  assert.equal((await http('POST', `${second.url}/resources/${resource}/acquire`, { leaseMs: 5_000 })).status, 201);

  second.child.kill('SIGTERM');
  assert.equal((await second.waitForExit(45_000)).code, 0);
  assert.ok(processGone(second.serverPid));
});
