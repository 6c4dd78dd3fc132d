import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { writeKeyFile, type TestKey } from './api-keys.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startListeningService, type ListeningService } from './listening-service.js';
import { REPO_ROOT } from './process.js';
import { makeSelfSignedCertificate } from './tls-certificate.js';

// What every client's conformance runner needs (clients/conformance/README.md): a listening service,
// a fault proxy in front of it, an HTTP control for that proxy that any language can call, and the
// further services the scenarios name (keys, TLS, other limits), described in scenarios.json.

export const SCENARIOS_PATH = path.join(REPO_ROOT, 'clients', 'conformance', 'scenarios.json');

export interface ConformanceHarness {
  service: ListeningService;
  proxy: FaultProxy;
  /** The service as clients under test reach it: through the proxy. */
  url: string;
  /** POST {controlUrl}/network with {"delayMs"?: n, "stalled"?: bool}. */
  controlUrl: string;
  /** The further services of scenarios.json, by name, as runners reach them. */
  services: Record<string, ConformanceService>;
  /** The environment a runner in another language reads. */
  env: Record<string, string>;
}

/** A further service, as LOCK_CONFORMANCE_SERVICES hands it to runners. */
export interface ConformanceService {
  url: string;
  /** The CA file an https:// service's certificate is trusted through. */
  caFile?: string;
  /** Each key's secret, by its name in scenarios.json. */
  keys: Record<string, string>;
}

/** How scenarios.json describes a further service. */
interface ServiceSpec {
  tls?: boolean;
  env?: Record<string, string>;
  keys?: TestKey[];
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
  const services: Record<string, ConformanceService> = {};
  for (const [name, spec] of Object.entries(await loadServiceSpecs())) services[name] = await startFurtherService(t, spec);
  return {
    service,
    proxy,
    url: proxy.url,
    controlUrl,
    services,
    env: {
      LOCK_SERVICE_URL: proxy.url,
      LOCK_CONFORMANCE_CONTROL_URL: controlUrl,
      LOCK_CONFORMANCE_SERVICES: JSON.stringify(services),
    },
  };
}

/** A further service as its spec says, stopped (and its files removed) when the test ends. */
async function startFurtherService(t: TestContext, spec: ServiceSpec): Promise<ConformanceService> {
  const env: Record<string, string> = { ...spec.env };
  let keys: Record<string, string> = {};
  if (spec.keys) {
    const keyFile = await writeKeyFile(t, spec.keys);
    env.API_KEYS_FILE = keyFile.file;
    keys = keyFile.keys;
  }
  let caFile: string | undefined;
  if (spec.tls) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'conformance-tls-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const tls = makeSelfSignedCertificate(dir);
    env.TLS_CERT_FILE = tls.cert;
    env.TLS_KEY_FILE = tls.key;
    caFile = tls.cert;
  }
  const service = await startListeningService(t, env);
  return { url: service.url, ...(caFile && { caFile }), keys };
}

export interface Scenario {
  name: string;
  needs?: 'network';
  /** A further service of scenarios.json to run against, instead of the one behind the fault proxy. */
  service?: string;
  /** The key every step sends unless it names another (`key`: a name, or null for none). */
  key?: string;
  steps: Step[];
}

export type Step = Record<string, any> & { do: string };

/** The scenarios every client runs. */
export async function loadScenarios(): Promise<Scenario[]> {
  return (JSON.parse(await fs.readFile(SCENARIOS_PATH, 'utf8')) as { scenarios: Scenario[] }).scenarios;
}

async function loadServiceSpecs(): Promise<Record<string, ServiceSpec>> {
  return (JSON.parse(await fs.readFile(SCENARIOS_PATH, 'utf8')) as { services?: Record<string, ServiceSpec> }).services ?? {};
}
