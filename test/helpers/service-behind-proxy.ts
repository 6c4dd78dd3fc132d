import type { TestContext } from 'node:test';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startTestService, type TestService } from './service.js';

/**
 * A service whose every Temporal connection (client, slot watches, worker) runs through a fault
 * proxy to `target`. The service stops before the proxy closes: after-hooks run in the order they
 * were registered, and a worker stopping against a closed proxy waits out its shutdown phase while
 * its native pollers keep retrying, which can keep the test process from ever exiting.
 */
export async function startServiceBehindProxy(
  t: TestContext,
  target: string,
  env: Record<string, string> = {},
): Promise<{ service: TestService; proxy: FaultProxy }> {
  const started: { service?: TestService } = {};
  t.after(() => started.service?.stop());
  const proxy = await startFaultProxy(t, target);
  const service = await startTestService(t, { ...env, TEMPORAL_ADDRESS: proxy.address });
  started.service = service;
  return { service, proxy };
}
