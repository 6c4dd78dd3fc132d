import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { until } from '../helpers/metrics.js';
import { http, spawnService, tempDataDir, type ServiceProcess } from '../helpers/process.js';
import { testTemporalAddress, uniqueResource } from '../helpers/service.js';

// Replicas are separate processes on one task queue, each with its own worker, as in production.
// A workflow task for a permit run goes to the sticky queue of the worker that ran the run's last
// task; when that worker's process dies, the task must still reach a live worker promptly.

/** The lease a short-lease holder would renew; its renewals must be answered well within it. */
const SHORT_LEASE_MS = 3_000;

interface Replica extends ServiceProcess {
  url: string;
  /** The service process (spawned with the node launcher, it leads its own group). */
  pid: number;
}

async function startReplica(t: TestContext, env: Record<string, string>): Promise<Replica> {
  const proc = spawnService(t, await tempDataDir(t), { PORT: '0', ...env });
  const listening = await proc.waitForLog('"lock service listening"', (line) => line.msg === 'lock service listening');
  return { ...proc, url: String(listening.url), pid: proc.groupId };
}

async function temporalClient(t: TestContext): Promise<Client> {
  const connection = await Connection.connect({ address: testTemporalAddress() });
  t.after(() => connection.close());
  return new Client({ connection });
}

/** The pid of the worker that completed the run's most recent workflow task (its identity is pid@host). */
async function lastWorkflowTaskPid(client: Client, workflowId: string, runId: string): Promise<number | undefined> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const history = await client.connection.withDeadline(Date.now() + 5_000, () => handle.fetchHistory());
  const completed = (history.events ?? []).filter((event) => event.workflowTaskCompletedEventAttributes);
  const identity = completed.at(-1)?.workflowTaskCompletedEventAttributes?.identity;
  return identity ? Number(identity.split('@')[0]) : undefined;
}

test('after the replica whose worker last ran a permit is SIGKILLed, another replica renews it well within a short lease', { timeout: 300_000 }, async (t) => {
  const env = {
    TEMPORAL_ADDRESS: testTemporalAddress(),
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    // Longer than the SDK's default sticky timeout (10 s), so a renewal stuck behind the dead
    // worker's sticky queue shows as a slow answer rather than as a 503 at the RPC deadline.
    TEMPORAL_RPC_TIMEOUT_MS: '15000',
  };
  const replicas = await Promise.all([startReplica(t, env), startReplica(t, env)]);
  const client = await temporalClient(t);
  const resource = uniqueResource('replica-death');

  const acquired = await http('POST', `${replicas[0]!.url}/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  const { runId, workflowId } = acquired.body as { runId: string; workflowId: string };
  // A first renewal makes sure the run's state sits in one worker's cache, behind that worker's sticky queue.
  const warmed = await http('POST', `${replicas[1]!.url}/permits/${runId}/renew`, { leaseMs: 60_000 });
  assert.equal(warmed.status, 200, JSON.stringify(warmed.body));

  let stickyPid: number | undefined;
  await until(async () => {
    stickyPid = await lastWorkflowTaskPid(client, workflowId, runId);
    return stickyPid !== undefined;
  }, 'a worker has completed a workflow task of the permit run');
  const victim = replicas.find((replica) => replica.pid === stickyPid);
  const survivor = replicas.find((replica) => replica.pid !== stickyPid);
  assert.ok(victim && survivor, `the last workflow task ran on pid ${stickyPid}, not on a replica (${replicas.map((r) => r.pid).join(', ')})`);

  process.kill(victim.pid, 'SIGKILL');
  assert.equal((await victim.exited).signal, 'SIGKILL');

  const renewed = await http('POST', `${survivor.url}/permits/${runId}/renew`, { leaseMs: SHORT_LEASE_MS });
  t.diagnostic(`the first renewal after the kill took ${Math.round(renewed.ms)} ms`);
  assert.equal(renewed.status, 200, `renew on the survivor after ${Math.round(renewed.ms)} ms: ${JSON.stringify(renewed.body)}`);
  assert.ok(
    renewed.ms < SHORT_LEASE_MS,
    `the renewal took ${Math.round(renewed.ms)} ms: a holder of a ${SHORT_LEASE_MS} ms lease would have lost its permit`,
  );
  assert.equal(await lastWorkflowTaskPid(client, workflowId, runId), survivor.pid, 'the survivor ran the renewal');

  const again = await http('POST', `${survivor.url}/permits/${runId}/renew`, { leaseMs: SHORT_LEASE_MS });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  t.diagnostic(`the next renewal took ${Math.round(again.ms)} ms`);
  assert.ok(again.ms < SHORT_LEASE_MS, `the next renewal took ${Math.round(again.ms)} ms`);
  assert.equal((await http('DELETE', `${survivor.url}/permits/${runId}`)).status, 204);
});
