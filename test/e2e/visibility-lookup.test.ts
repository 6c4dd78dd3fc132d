import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metric } from '../helpers/metrics.js';
import { startServiceBehindProxy } from '../helpers/service-behind-proxy.js';
import { startTestService, testTemporalAddress, uniqueResource } from '../helpers/service.js';

// A replica that did not grant a permit finds its workflow ID in Temporal visibility. After a
// Temporal restart that query was seen to take seconds ("List query exceeded threshold"), and a
// release or renew waited on it up to the RPC deadline. The lookup as a whole is bounded by
// VISIBILITY_LOOKUP_WAIT_MS: past it the caller hears 503 (retry), never 404.

test('a runId lookup that visibility cannot answer within VISIBILITY_LOOKUP_WAIT_MS answers 503 with Retry-After, not after the RPC deadline', { timeout: 120_000 }, async (t) => {
  const granting = await startTestService(t);
  // Every byte between this replica and Temporal takes 0.8 s each way: one visibility query needs
  // at least 1.6 s, within the 20 s RPC deadline but not within the 1 s lookup wait.
  const { service: other, proxy } = await startServiceBehindProxy(t, testTemporalAddress(), {
    TEMPORAL_TASK_QUEUE: granting.config.temporal.taskQueue,
    TEMPORAL_RPC_TIMEOUT_MS: '20000',
    VISIBILITY_LOOKUP_WAIT_MS: '1000',
  });
  const resource = uniqueResource('lookup');
  const held = await granting.call('POST', `/resources/${resource}/acquire`, { leaseMs: 60_000 });
  assert.equal(held.status, 201, JSON.stringify(held.body));

  proxy.setDelay(800);
  for (const [method, path] of [['GET', `/permits/${held.body.runId}`], ['DELETE', `/permits/${held.body.runId}`]] as const) {
    const answer = await other.call(method, path);
    assert.equal(answer.status, 503, `${method} ${path}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error, 'temporal_unavailable');
    assert.match(answer.body.message, /VISIBILITY_LOOKUP_WAIT_MS/);
    assert.ok(Number(answer.headers['retry-after']) >= 1, 'the caller is told when to retry');
  }
  assert.ok((await metric(other, 'lock_permit_lookup_duration_seconds_count{result="error"}')) >= 2);

  // Once Temporal answers in time again, the same replica finds the permit, and it was never released.
  proxy.setDelay(0);
  const status = await other.call('GET', `/permits/${held.body.runId}`);
  assert.equal(status.status, 200, JSON.stringify(status.body));
  assert.equal((await other.call('DELETE', `/permits/${held.body.runId}`)).status, 204);
});
