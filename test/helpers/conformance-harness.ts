import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startListeningService, type ListeningService } from './listening-service.js';
import { REPO_ROOT } from './process.js';

// What every client's conformance runner needs (clients/conformance/README.md): a listening service,
// a fault proxy in front of it, and an HTTP control for that proxy that any language can call.

export const SCENARIOS_PATH = path.join(REPO_ROOT, 'clients', 'conformance', 'scenarios.json');

export interface ConformanceHarness {
  service: ListeningService;
  proxy: FaultProxy;
  /** The service as clients under test reach it: through the proxy. */
  url: string;
  /** POST {controlUrl}/network with {"delayMs"?: n, "stalled"?: bool}. */
  controlUrl: string;
  /** The environment a runner in another language reads. */
  env: Record<string, string>;
}

/** Applies one `network` step to the proxy. */
export function applyNetwork(proxy: FaultProxy, change: Record<string, unknown>): void {
  if (typeof change.delayMs === 'number') proxy.setDelay(change.delayMs);
  if (change.stalled === true) proxy.stall();
  if (change.stalled === false) proxy.resume();
}

/** Starts the service, the proxy and the control; all stop when the test ends. */
export async function startConformanceHarness(t: TestContext): Promise<ConformanceHarness> {
  const service = await startListeningService(t);
  const proxy = await startFaultProxy(t, new URL(service.url).host);
  const control = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/network') {
        response.writeHead(404).end();
        return;
      }
      try {
        applyNetwork(proxy, JSON.parse(body || '{}'));
        response.writeHead(204).end();
      } catch (error) {
        response.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => control.close(() => resolve())));
  const { port } = control.address() as { port: number };
  const controlUrl = `http://127.0.0.1:${port}`;
  return {
    service,
    proxy,
    url: proxy.url,
    controlUrl,
    env: { LOCK_SERVICE_URL: proxy.url, LOCK_CONFORMANCE_CONTROL_URL: controlUrl },
  };
}

export interface Scenario {
  name: string;
  needs?: 'network';
  pending?: string;
  steps: Step[];
}

export type Step = Record<string, any> & { do: string };

/** The scenarios every client runs. */
export async function loadScenarios(): Promise<Scenario[]> {
  return (JSON.parse(await fs.readFile(SCENARIOS_PATH, 'utf8')) as { scenarios: Scenario[] }).scenarios;
}
