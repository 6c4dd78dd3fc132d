import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { LockClient, LockServiceError } from '../../packages/client/src/client/index.js';
import { writeKeyFile, type KeyFile, type TestKey } from './api-keys.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startListeningService, type ListeningService } from './listening-service.js';
import { REPO_ROOT } from './process.js';
import { makeSelfSignedCertificate } from './tls-certificate.js';

// What every client's conformance runner needs (clients/conformance/README.md): a listening service,
// a fault proxy in front of it, an HTTP control for that proxy (and for the further services' key
// files) that any language can call, and the further services the scenarios name (keys, TLS, other
// limits, a replica the proxy can switch to), described in scenarios.json.

export const SCENARIOS_PATH = path.join(REPO_ROOT, 'clients', 'conformance', 'scenarios.json');

export interface ConformanceHarness {
  service: ListeningService;
  proxy: FaultProxy;
  /** The service as clients under test reach it: through the proxy. */
  url: string;
  /** POST {controlUrl}/network with {"delayMs"?: n, "stalled"?: bool, "upstream"?: name | null}; POST {controlUrl}/keys with {"service", "without"}. */
  controlUrl: string;
  /** The further services of scenarios.json, by name, as runners reach them. */
  services: Record<string, ConformanceService>;
  /** Applies one `network` step to the proxy (see applyNetwork). */
  network(change: Record<string, unknown>): void;
  /** Applies one `keys` step to a further service (see applyKeys). */
  keys(service: string, without: string[]): Promise<void>;
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
  /** A replica of the service behind the proxy (its Temporal task queue), which a `network` step's `upstream` can send the proxy to. */
  replica?: boolean;
}

/** Where the proxy can relay: the service it started with, or a replica of it; `current` names the replica (null: the service). */
interface Upstreams {
  main: string;
  replicas: Record<string, string>;
  current: string | null;
}

/**
 * Applies one `network` step to the proxy. `upstream` names the replica the proxy relays to from now
 * on (null: the service it started with); open connections are reset when it changes, as a load
 * balancer's are when the replica behind them goes away, so the next request reaches the new one.
 */
function applyNetwork(proxy: FaultProxy, upstreams: Upstreams, change: Record<string, unknown>): void {
  if (typeof change.delayMs === 'number') proxy.setDelay(change.delayMs);
  if (change.stalled === true) proxy.stall();
  if (change.stalled === false) proxy.resume();
  if (change.upstream !== undefined && change.upstream !== upstreams.current) {
    const name = change.upstream === null ? null : String(change.upstream);
    const url = name === null ? upstreams.main : upstreams.replicas[name];
    if (!url) throw new Error(`network: no replica ${name} in scenarios.json`);
    proxy.setTarget(new URL(url).host);
    proxy.resetConnections();
    upstreams.current = name;
  }
}

/** A further service as the harness runs it: what runners get, and what the `keys` step changes. */
interface RunningService {
  handedOver: ConformanceService;
  service: ListeningService;
  specKeys: TestKey[];
  keyFile?: KeyFile;
}

/** A resource under the conformance keys' prefix that no scenario uses: asking for its holders tells whether a key is accepted. */
const KEY_PROBE_RESOURCE = 'conf-key-probe';

/** Whether the service accepts this key now: a request with it is not answered 401. */
async function keyAccepted(running: RunningService, secret: string): Promise<boolean> {
  const client = new LockClient({ url: running.handedOver.url, apiKey: secret, caFile: running.handedOver.caFile });
  try {
    await client.holders(KEY_PROBE_RESOURCE);
    return true;
  } catch (error) {
    if (error instanceof LockServiceError && error.status === 401) return false;
    throw error;
  }
}

/**
 * One `keys` step: writes the service's key file with every key of its spec but `without`, has the
 * service reload it (what SIGHUP or its file watch does in a deployed service), and returns once a
 * request with each removed key answers 401 and one with each other key does not.
 */
export async function applyKeys(running: RunningService | undefined, without: string[]): Promise<void> {
  if (!running?.keyFile || !running.service.reloadKeys) throw new Error('keys: the service has no key file');
  const unknown = without.filter((name) => !running.specKeys.some((key) => key.name === name));
  if (unknown.length > 0) throw new Error(`keys: the service has no key ${unknown.join(', ')}`);
  await running.keyFile.write(running.specKeys.filter((key) => !without.includes(key.name)));
  await running.service.reloadKeys();
  for (const key of running.specKeys) {
    const accepted = await keyAccepted(running, running.keyFile.keys[key.name]!);
    if (accepted === without.includes(key.name)) {
      throw new Error(`keys: after the reload the service ${accepted ? 'still accepts' : 'refuses'} the key ${key.name}`);
    }
  }
}

/** The control's handlers, by path: each takes the request's JSON. */
type ControlRoutes = Record<string, (body: Record<string, unknown>) => Promise<void> | void>;

async function startControl(t: TestContext, routes: ControlRoutes): Promise<string> {
  const control = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const route = request.method === 'POST' ? routes[request.url ?? ''] : undefined;
      if (!route) {
        response.writeHead(404).end();
        return;
      }
      Promise.resolve()
        .then(() => route(JSON.parse(body || '{}') as Record<string, unknown>))
        .then(
          () => response.writeHead(204).end(),
          (error: unknown) => response.writeHead(400, { 'content-type': 'text/plain' }).end(String(error)),
        );
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => control.close(() => resolve())));
  const { port } = control.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

/** Starts the service, the proxy and the control; all stop when the test ends. */
export async function startConformanceHarness(t: TestContext): Promise<ConformanceHarness> {
  const service = await startListeningService(t);
  const proxy = await startFaultProxy(t, new URL(service.url).host);
  const running: Record<string, RunningService> = {};
  const upstreams: Upstreams = { main: service.url, replicas: {}, current: null };
  for (const [name, spec] of Object.entries(await loadServiceSpecs())) {
    running[name] = await startFurtherService(t, spec, service);
    if (spec.replica) upstreams.replicas[name] = running[name].handedOver.url;
  }
  const services = Object.fromEntries(Object.entries(running).map(([name, further]) => [name, further.handedOver]));
  const network = (change: Record<string, unknown>) => applyNetwork(proxy, upstreams, change);
  const keys = (name: string, without: string[]) => applyKeys(running[name], without);
  const controlUrl = await startControl(t, {
    '/network': network,
    '/keys': (body) => {
      if (typeof body.service !== 'string' || !Array.isArray(body.without)) throw new Error('keys: expected {"service": name, "without": [key names]}');
      return keys(body.service, body.without.map(String));
    },
  });
  return {
    service,
    proxy,
    url: proxy.url,
    controlUrl,
    services,
    network,
    keys,
    env: {
      LOCK_SERVICE_URL: proxy.url,
      LOCK_CONFORMANCE_CONTROL_URL: controlUrl,
      LOCK_CONFORMANCE_SERVICES: JSON.stringify(services),
    },
  };
}

/** A further service as its spec says, stopped (and its files removed) when the test ends. */
async function startFurtherService(t: TestContext, spec: ServiceSpec, main: ListeningService): Promise<RunningService> {
  const env: Record<string, string> = { ...spec.env };
  if (spec.replica) env.TEMPORAL_TASK_QUEUE = main.config.temporal.taskQueue;
  let keyFile: KeyFile | undefined;
  if (spec.keys) {
    keyFile = await writeKeyFile(t, spec.keys);
    env.API_KEYS_FILE = keyFile.file;
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
  // A copy of the secrets: a `keys` step rewrites the file, never what the runners were handed.
  const handedOver = { url: service.url, ...(caFile && { caFile }), keys: { ...keyFile?.keys } };
  return { handedOver, service, specKeys: spec.keys ?? [], ...(keyFile && { keyFile }) };
}

export interface Scenario {
  name: string;
  /** What of the control the scenario uses: runners without LOCK_CONFORMANCE_CONTROL_URL skip it. */
  needs?: 'network' | 'keys';
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
