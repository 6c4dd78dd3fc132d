import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { DrainableRetries } from '../../src/temporal/drainable-retries.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { until } from '../helpers/metrics.js';
import { testTemporalAddress } from '../helpers/service.js';

// The SDK retries an UNAVAILABLE call on a timer nothing cancels; one that fires after its connection
// closed throws "Channel has been shut down" uncaught (the test runner fails the file if it does).

test('a connection closed after draining its retries leaves no retry to call into the closed channel', async (t) => {
  const proxy = await startFaultProxy(t, testTemporalAddress());
  const retries = new DrainableRetries();
  const connection = await Connection.connect({ address: proxy.address, interceptors: retries.interceptors });
  const client = new Client({ connection });
  await client.workflowService.getSystemInfo({});

  // Temporal becomes unreachable: the next call fails with UNAVAILABLE and the SDK schedules retries.
  await proxy.close();
  const call = client.workflowService.getSystemInfo({}).catch((error: unknown) => error);
  await until(async () => retries.scheduledUntil > 0, 'a retry is scheduled');
  await retries.drain();
  assert.ok(Date.now() >= retries.scheduledUntil, 'drain waited for the scheduled retry');
  await connection.close();
  assert.ok((await call) instanceof Error, 'the call failed once retries stopped');
  // A retry firing after this point would call into the closed channel; the runner fails the file
  // for an uncaught error even after the test ends.
});
