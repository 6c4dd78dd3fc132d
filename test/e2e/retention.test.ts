import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { Connection } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { provisionTemporalCli } from '../../src/temporal/provision-cli.js';
import { http, spawnService, startService, tempDataDir, type RunningService } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';

/**
 * The first CLI whose server (1.32) accepts a local namespace's retention below 1 h: Temporal Server
 * 1.29, which the pinned CLI runs, refuses anything shorter, and no setting of it lowers that floor
 * (its `system.namespaceMinRetentionLocal` is ignored). Deletion is the same code in both.
 */
const SHORT_RETENTION_CLI_VERSION = '1.9.1';
const DELETION_TIMEOUT_MS = 90_000;

async function withTemporal<T>(service: RunningService, work: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: `127.0.0.1:${service.devPort}` });
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}

async function retentionMs(service: RunningService): Promise<number | undefined> {
  return withTemporal(service, async (connection) => {
    const described = await connection.workflowService.describeNamespace({ namespace: 'default' });
    return optionalTsToMs(described.config?.workflowExecutionRetentionTtl);
  });
}

async function stop(service: RunningService): Promise<void> {
  service.child.kill('SIGTERM');
  assert.equal((await service.waitForExit(60_000)).code, 0);
}

test('PERMIT_RETENTION sets how long the embedded server keeps closed permits; a retention the server refuses stops start-up, naming the variable', { timeout: 300_000 }, async (t) => {
  const dataDir = await tempDataDir(t);
  const service = await startService(t, { dataDir, env: { PERMIT_RETENTION: '2h' } });
  assert.equal(await retentionMs(service), 7_200_000);
  const set = service.logs.find((line) => line.msg === 'namespace retention of closed permits set');
  assert.equal(set?.retentionMs, 7_200_000);
  assert.equal(set?.previousRetentionMs, 86_400_000, 'a new database starts with the dev server\'s 24 h');
  await stop(service);

  // Temporal Server 1.29 keeps closed runs at least 1 h.
  const refused = spawnService(t, dataDir, { PORT: '0', TEMPORAL_DEV_PORT: String(service.devPort), PERMIT_RETENTION: '30m' });
  const exit = await refused.waitForExit(120_000);
  assert.equal(exit.code, 2);
  assert.match(refused.stderr(), /PERMIT_RETENTION: the Temporal server refused a retention of 1800 s/);
  assert.match(refused.stderr(), /at least 1h/);
});

test('a released permit\'s run is deleted from the embedded server once PERMIT_RETENTION has passed since it closed', { timeout: 600_000 }, async (t) => {
  const config = loadConfig({});
  const cliPath = await provisionTemporalCli({
    cliPath: undefined,
    cacheDir: config.devServer.cacheDir,
    version: SHORT_RETENTION_CLI_VERSION,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'warn'),
  });
  const dataDir = await tempDataDir(t);
  const env = { TEMPORAL_CLI: cliPath, PERMIT_RETENTION: '3s' };
  // The server's history service reads a namespace's retention from a cache it refreshes every 10 s,
  // and a run takes the retention in force when it closes. Started again on the same database, the
  // server reads the new retention as it starts, so every permit below closes under it.
  const first = await startService(t, { dataDir, env });
  assert.equal(await retentionMs(first), 3_000);
  await stop(first);
  const service = await startService(t, { dataDir, devPort: first.devPort, env });

  const resource = uniqueResource('retention');
  const acquired = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  const { runId, workflowId } = acquired.body as { runId: string; workflowId: string };
  assert.equal((await http('DELETE', `${service.url}/permits/${runId}`)).status, 204);

  await withTemporal(service, async (connection) => {
    const describe = () => connection.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId, runId } });
    const closed = await describe();
    assert.ok(closed.workflowExecutionInfo?.closeTime, 'right after the release, the closed run is still there');

    const deadline = Date.now() + DELETION_TIMEOUT_MS;
    let gone = false;
    while (!gone) {
      try {
        await describe();
        assert.ok(Date.now() < deadline, `the closed run was still there ${DELETION_TIMEOUT_MS} ms after its release`);
        await delay(250);
      } catch (error) {
        assert.match((error as Error).message, /not found/i);
        gone = true;
      }
    }
    const listed = await connection.workflowService.listWorkflowExecutions({ namespace: 'default', query: `RunId = '${runId}'` });
    assert.deepEqual(listed.executions, [], 'visibility no longer lists it either');
  });
});
