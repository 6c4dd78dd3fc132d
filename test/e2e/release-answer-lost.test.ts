import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { until } from '../helpers/metrics.js';
import { startPrivateTemporal } from '../helpers/private-temporal.js';
import { startServiceBehindProxy } from '../helpers/service-behind-proxy.js';
import { testTemporalAddress, uniqueResource } from '../helpers/service.js';

// The reported sequence: a release's terminate commits on the server, its answer is lost on the
// way back (the connection breaks, or Temporal is killed), the SDK retries the terminate, and the
// retry finds the run closed. The holder released its own permit and must hear 204, not "410,
// someone else released it". A fault proxy between the service and Temporal swallows the answer
// until the test has seen the run closed on the server itself.

/** A client straight to the server, past the proxy, to see what the server has committed. */
async function directClient(t: TestContext, address: string): Promise<Client> {
  const connection = await Connection.connect({ address });
  t.after(() => connection.close());
  return new Client({ connection });
}

async function untilTerminated(client: Client, workflowId: string, runId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const describe = () => client.connection.withDeadline(Date.now() + 5_000, () => handle.describe());
  await until(async () => (await describe()).status.name === 'TERMINATED', 'the terminate has committed on the server');
}

test('a release whose terminate committed but whose answer was lost to a reset connection answers 204, not 410 released', { timeout: 120_000 }, async (t) => {
  const { service, proxy } = await startServiceBehindProxy(t, testTemporalAddress());
  const client = await directClient(t, testTemporalAddress());
  const resource = uniqueResource('lost-release');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  const { runId, workflowId } = held.body;

  proxy.swallowAnswers(true);
  const releasing = service.call('DELETE', `/permits/${runId}`);
  await untilTerminated(client, workflowId, runId);
  // Reset first: the terminate's answer, still held back, dies with the connection. The SDK sees the
  // connection drop (UNAVAILABLE) and sends the terminate again on a new one.
  proxy.resetConnections();
  proxy.swallowAnswers(false);

  const released = await releasing;
  assert.equal(released.status, 204, JSON.stringify(released.body));
  // Anyone else's release of that token is still refused as released.
  const again = await service.call('DELETE', `/permits/${runId}`);
  assert.equal(again.status, 410, JSON.stringify(again.body));
  assert.equal(again.body.state, 'released');
  assert.equal((await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 5_000 })).status, 201);
});

test('a release whose terminate committed but whose answer came after the RPC deadline answers 204, not 503', { timeout: 120_000 }, async (t) => {
  const { service, proxy } = await startServiceBehindProxy(t, testTemporalAddress(), { TEMPORAL_RPC_TIMEOUT_MS: '1000' });
  const client = await directClient(t, testTemporalAddress());
  const resource = uniqueResource('late-release');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  const { runId, workflowId } = held.body;

  // Each way takes 0.7 s: the terminate reaches the server at 0.7 s and commits, its answer would be
  // back at 1.4 s, past the 1 s deadline. The SDK does not retry a DEADLINE_EXCEEDED.
  proxy.setDelay(700);
  const releasing = service.call('DELETE', `/permits/${runId}`);
  await untilTerminated(client, workflowId, runId);
  proxy.setDelay(0);

  const released = await releasing;
  assert.equal(released.status, 204, JSON.stringify(released.body));
  assert.equal((await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 5_000 })).status, 201);
});

test('a release whose terminate committed just before Temporal was SIGKILLed answers 204 once Temporal is back, not 410 released', { timeout: 300_000 }, async (t) => {
  const temporal = await startPrivateTemporal();
  const { service, proxy } = await startServiceBehindProxy(t, temporal.address, {
    // Long enough for the SDK's retries to outlast the server's restart, as with a cluster whose
    // frontend comes back within the deadline.
    TEMPORAL_RPC_TIMEOUT_MS: '30000',
    SHUTDOWN_TIMEOUT_MS: '5000',
  }).catch(async (error: unknown) => {
    await temporal.stop();
    throw error;
  });
  // Registered after the service's own after-hook, so the service stops before its server.
  t.after(temporal.stop);
  const client = await directClient(t, temporal.address);

  const resource = uniqueResource('lost-release-restart');
  const held = await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 600_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  const { runId, workflowId } = held.body;

  proxy.swallowAnswers(true);
  const releasing = service.call('DELETE', `/permits/${runId}`);
  await untilTerminated(client, workflowId, runId);
  await temporal.kill();
  proxy.swallowAnswers(false);
  await temporal.restart();

  const released = await releasing;
  assert.equal(released.status, 204, JSON.stringify(released.body));
  const status = await service.call('GET', `/permits/${runId}`);
  assert.equal(status.status, 410, JSON.stringify(status.body));
  assert.equal(status.body.state, 'released');
  assert.equal((await service.call('POST', `/resources/${resource}/acquire`, { leaseMs: 5_000 })).status, 201);
});
