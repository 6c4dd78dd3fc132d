import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { metric } from '../helpers/metrics.js';
import { http, startReplica } from '../helpers/process.js';
import { startTestService, testTemporalAddress, uniqueResource } from '../helpers/service.js';

// A lease ends on its own only when a worker fires the run's timer. With no worker anywhere, an
// acquire that finds the slot's run past its lease by more than the grace ends that run itself.

/** The grace every replica here runs with: the documented default. */
const GRACE_MS = loadConfig({}).limits.expiredLeaseGraceMs;

async function temporalClient(t: TestContext): Promise<Client> {
  const connection = await Connection.connect({ address: testTemporalAddress() });
  t.after(() => connection.close());
  return new Client({ connection });
}

/** The last event of a run's history: how Temporal recorded its end. */
async function closeEvent(client: Client, workflowId: string, runId: string) {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return history.events!.at(-1)!;
}

test(
  'an api-only replica started after the only worker was SIGKILLed gets the slot of a 1 s lease within lease + grace + 1 s, and the old run is recorded as ended expired',
  { timeout: 300_000 },
  async (t) => {
    const taskQueue = `test-${randomUUID()}`;
    const first = await startReplica(t, { SERVICE_ROLE: 'all', TEMPORAL_TASK_QUEUE: taskQueue });
    const resource = uniqueResource('takeover');
    const acquired = await http('POST', `${first.url}/resources/${resource}/acquire`, { leaseMs: 1_000, holder: 'killed replica' });
    assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
    const old = acquired.body;
    process.kill(first.groupId, 'SIGKILL');
    await first.waitForExit(10_000);

    const api = await startReplica(t, { SERVICE_ROLE: 'api', TEMPORAL_TASK_QUEUE: taskQueue });
    const ready = await http('GET', `${api.url}/readyz`);
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(ready.body, { status: 'ready', role: 'api', temporal: 'reachable', worker: 'none' });

    const askedAtMs = Date.now();
    const next = await http('POST', `${api.url}/resources/${resource}/acquire`, { leaseMs: 30_000, waitMs: 60_000 }, { timeoutMs: 70_000 });
    const answeredAtMs = Date.now();
    assert.equal(next.status, 201, JSON.stringify(next.body));
    assert.equal(next.body.slot, old.slot);
    assert.notEqual(next.body.runId, old.runId);

    const expiresAtMs = Date.parse(old.expiresAt);
    const figures = `lease end ${old.expiresAt}, grace ${GRACE_MS} ms, asked at ${new Date(askedAtMs).toISOString()}, answered at ${new Date(answeredAtMs).toISOString()}`;
    assert.ok(answeredAtMs >= expiresAtMs + GRACE_MS, `the run was ended before its lease end + grace: ${figures}`);
    // The replica may come up after that moment on a busy machine; then the slot is due at once.
    assert.ok(answeredAtMs <= Math.max(expiresAtMs + GRACE_MS, askedAtMs) + 1_000, `the slot came late: ${figures}`);
    t.diagnostic(`answered ${answeredAtMs - expiresAtMs} ms after the old lease end (${answeredAtMs - askedAtMs} ms after asking)`);

    for (const [method, path] of [
      ['GET', `/permits/${old.runId}`],
      ['DELETE', `/permits/${old.runId}`],
      ['POST', `/permits/${old.runId}/renew`],
    ] as const) {
      const answer = await http(method, `${api.url}${path}`);
      assert.equal(answer.status, 410, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.state, 'expired', `${method} ${path}`);
    }

    // No worker ran: Temporal's record is the acquire's terminate, saying why.
    const closed = await closeEvent(await temporalClient(t), old.workflowId, old.runId);
    assert.match(String(closed.workflowExecutionTerminatedEventAttributes?.reason), /^expired: the lease ended at /, JSON.stringify(closed));
    const metrics = String((await http('GET', `${api.url}/metrics`)).body);
    assert.match(metrics, /^lock_expired_lease_checks_total\{result="ended"\} 1$/m);
  },
);

test('a renewed lease is not ended before its renewed end + grace; with no worker left, a waiting acquire takes the slot over then', { timeout: 120_000 }, async (t) => {
  const holderReplica = await startTestService(t);
  const taskQueue = holderReplica.config.temporal.taskQueue;
  const resource = uniqueResource('takeover-renewed');
  const acquired = await holderReplica.call('POST', `/resources/${resource}/acquire`, { leaseMs: 1_000 });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  const { runId } = acquired.body;
  // Longer than the original lease + the grace would be, so a takeover by the run's first lease shows.
  const renewed = await holderReplica.call('POST', `/permits/${runId}/renew`, { leaseMs: 3_000 });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  const renewedEndMs = Date.parse(renewed.body.expiresAt);
  await holderReplica.stop(); // and its worker: nothing closes the run at its lease end now

  const api = await startTestService(t, { SERVICE_ROLE: 'api', TEMPORAL_TASK_QUEUE: taskQueue });
  for (let attempt = 1; attempt <= 5; attempt++) {
    const busy = await api.call('POST', `/resources/${resource}/acquire`);
    assert.equal(busy.status, 409, `try-once acquire ${attempt}: ${JSON.stringify(busy.body)}`);
  }
  // The busy path stays cheap: one describe told this replica the lease end; the later tries used it.
  assert.equal(await metric(api, 'lock_expired_lease_checks_total{result="held"}'), 1);
  assert.ok(Date.now() < renewedEndMs, 'precondition: the renewed lease still runs');

  const waiting = await api.call('POST', `/resources/${resource}/acquire`, { leaseMs: 30_000, waitMs: 30_000 });
  const answeredAtMs = Date.now();
  assert.equal(waiting.status, 201, JSON.stringify(waiting.body));
  assert.ok(
    answeredAtMs >= renewedEndMs + GRACE_MS,
    `taken over ${renewedEndMs + GRACE_MS - answeredAtMs} ms before the renewed lease end + grace`,
  );
  assert.ok(answeredAtMs <= renewedEndMs + GRACE_MS + 1_000, `taken over ${answeredAtMs - renewedEndMs - GRACE_MS} ms after the renewed lease end + grace`);
  assert.equal(await metric(api, 'lock_wait_passes_total{reason="lease_end"}') >= 1, true, 'the waiter looked again at the lease end');

  const old = await api.call('GET', `/permits/${runId}`);
  assert.equal(old.status, 410);
  assert.equal(old.body.state, 'expired');
  const description = await api.client.workflow.getHandle(acquired.body.workflowId, runId).describe();
  assert.equal(description.status.name, 'TERMINATED');
});
