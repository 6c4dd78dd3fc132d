import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { BEHIND_LOAD_BALANCER, REPLICA_PORT_VARIABLE, REPLICA_ROLES, replicaEnvironment, replicaTemplateValues } from '../../cluster/cluster.js';
import { haproxyTemplateValues } from '../../cluster/load-balancer.js';
import { DEPLOY_DIR, placeholders, readDeployFile, renderTemplate } from '../../cluster/templates.js';
import { TEMPORAL_PORT_NAMES, temporalTemplateValues, type TemporalPorts } from '../../cluster/temporal-server.js';
import { EnvSchema, TEMPORAL_SERVER_VERSION, loadConfig, isLoopbackHost } from '../../src/config.js';
import { ERROR_CODES } from '../../src/permits/errors.js';

// The files under deploy/ are what `npm run cluster` runs and what a reader copies: these checks keep
// them in step with the code that fills them and with the service's configuration, without starting
// anything.

const run = promisify(execFile);

/** Distinct dummy ports, each below 32768 as the membership table requires. */
const temporalPorts = Object.fromEntries(TEMPORAL_PORT_NAMES.map((name, index) => [name, 21_000 + index])) as unknown as TemporalPorts;
const replicaPorts = { API_PORT: 41_001, WORKER_PORT: 41_002, ALL_PORT: 41_003 };
const postgres = { host: '127.0.0.1', port: 5432, user: 'temporal', password: 'temporal' };

async function renderedTemporalConfig(): Promise<any> {
  const text = renderTemplate(await readDeployFile('temporal/cluster.yaml'), temporalTemplateValues(temporalPorts, postgres, '/tmp/dynamicconfig.yaml'));
  return parse(text);
}

test('every placeholder in deploy/ is one the cluster script fills, and it fills none that is not used', async () => {
  const cases: Array<[string, Record<string, string | number>]> = [
    ['temporal/cluster.yaml', temporalTemplateValues(temporalPorts, postgres, '/tmp/dynamicconfig.yaml')],
    ['haproxy/haproxy.cfg', haproxyTemplateValues({ port: 41_000, apiPort: replicaPorts.API_PORT, allPort: replicaPorts.ALL_PORT })],
  ];
  for (const role of REPLICA_ROLES) {
    cases.push([`replicas/${role}.env`, replicaTemplateValues(replicaPorts, { temporalAddress: 'x:1', taskQueue: 'q', capacities: '', logLevel: 'warn' })]);
  }
  for (const [file, values] of cases) {
    const used = placeholders(await readDeployFile(file));
    const missing = used.filter((name) => !(name in values));
    assert.deepEqual(missing, [], `${file} uses placeholders the script does not fill`);
    if (!file.startsWith('replicas/')) {
      // A replica file uses only its own port; the shared values hold all three.
      assert.deepEqual(Object.keys(values).filter((name) => !used.includes(name)), [], `${file} leaves filled values unused`);
    }
  }
});

test('the Temporal server config uses PostgreSQL for persistence and visibility, 4 history shards, and distinct templated ports', async () => {
  const config = await renderedTemporalConfig();
  assert.equal(config.persistence.numHistoryShards, 4);
  const stores = config.persistence.datastores;
  for (const store of [config.persistence.defaultStore, config.persistence.visibilityStore]) {
    assert.equal(stores[store].sql.pluginName, 'postgres12', `${store} is on PostgreSQL`);
    assert.equal(stores[store].sql.connectAddr, `${postgres.host}:${postgres.port}`);
  }
  assert.deepEqual(
    [stores[config.persistence.defaultStore].sql.databaseName, stores[config.persistence.visibilityStore].sql.databaseName],
    ['temporal', 'temporal_visibility'],
    'the databases temporal-sql-tool sets up',
  );
  const ports: number[] = [];
  for (const service of ['frontend', 'history', 'matching', 'worker']) {
    const rpc = config.services[service].rpc;
    ports.push(rpc.grpcPort, rpc.membershipPort);
    if (rpc.httpPort !== undefined) ports.push(rpc.httpPort);
    assert.ok(rpc.membershipPort < 32_768, `${service}'s membership port fits the membership table's smallint`);
  }
  assert.deepEqual(ports.sort(), TEMPORAL_PORT_NAMES.filter((name) => name !== 'METRICS_PORT').map((name) => temporalPorts[name]).sort());
  assert.equal(config.clusterMetadata.clusterInformation[config.clusterMetadata.currentClusterName].rpcAddress, `127.0.0.1:${temporalPorts.FRONTEND_GRPC_PORT}`);
  assert.equal(config.dynamicConfigClient.filepath, '/tmp/dynamicconfig.yaml');
  const dynamic = parse(await readDeployFile('temporal/dynamicconfig.yaml'));
  assert.ok(dynamic['frontend.namespaceRPS.visibility'][0].value >= 100, 'visibility requests per second raised as for the dev server');
});

test('each replica environment file is a configuration the service accepts, in its role, on its port, sharing one task queue', async () => {
  const values = replicaTemplateValues(replicaPorts, { temporalAddress: '127.0.0.1:7233', taskQueue: 'lock-service', capacities: 'gpu-pool=3', logLevel: 'warn' });
  const queues = new Set<string>();
  for (const role of REPLICA_ROLES) {
    const env = await replicaEnvironment(role, values);
    for (const variable of Object.keys(env)) assert.ok(variable in EnvSchema.shape, `${role}.env: ${variable} is a configuration variable`);
    const config = loadConfig(env);
    assert.equal(config.role, role, `${role}.env sets SERVICE_ROLE=${role}`);
    assert.equal(config.port, values[REPLICA_PORT_VARIABLE[role]], `${role}.env listens on its own port`);
    assert.equal(config.temporal.address, '127.0.0.1:7233');
    assert.deepEqual(config.resourceCapacities, { 'gpu-pool': 3 });
    assert.ok(isLoopbackHost(config.host), 'without API keys a replica listens on loopback only');
    queues.add(config.temporal.taskQueue);
  }
  assert.equal(queues.size, 1, 'the api and worker replicas meet on one task queue');
});

test('HAProxy balances over the replicas that serve the API, checks /readyz, and answers its own errors as 503 with Retry-After', async () => {
  const values = haproxyTemplateValues({ port: 41_000, apiPort: replicaPorts.API_PORT, allPort: replicaPorts.ALL_PORT });
  const text = renderTemplate(await readDeployFile('haproxy/haproxy.cfg'), values);
  const servers = [...text.matchAll(/^\s*server\s+(\S+)\s+127\.0\.0\.1:(\d+)\s+check/gm)].map((match) => [match[1], Number(match[2])]);
  assert.deepEqual(
    servers,
    BEHIND_LOAD_BALANCER.map((role) => [role, replicaPorts[REPLICA_PORT_VARIABLE[role] as keyof typeof replicaPorts]]),
    'the api and all replicas, not the worker replica (which serves no API)',
  );
  assert.match(text, /^\s*option httpchk GET \/readyz$/m);
  assert.match(text, /^\s*bind 127\.0\.0\.1:41000$/m);
  assert.match(text, /^\s*option abortonclose$/m, 'a client\'s abort reaches the replica (an abandoned wait must not be granted)');
  assert.match(text, /^\s*retry-on conn-failure$/m, 'only a request that never reached a replica is sent again');
  const serverTimeout = /^\s*timeout server (\d+)s$/m.exec(text);
  assert.ok(serverTimeout && Number(serverTimeout[1]) * 1_000 > loadConfig({}).limits.maxWaitMs, 'a waiting acquire is not cut off by the proxy');

  const errorFiles = [...text.matchAll(/^\s*errorfile (\d+) (\S+)$/gm)];
  assert.deepEqual(errorFiles.map((match) => match[1]), ['502', '503', '504']);
  for (const [, status, file] of errorFiles) {
    assert.equal(path.dirname(file!), path.join(DEPLOY_DIR, 'haproxy', 'errors'));
    const raw = await fs.readFile(file!, 'utf8');
    const [head, body] = raw.split('\r\n\r\n');
    const lines = head!.split('\r\n');
    assert.equal(lines[0], 'HTTP/1.1 503 Service Unavailable', `${status}: answered as 503`);
    const headers = Object.fromEntries(lines.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    assert.match(headers['retry-after'] ?? '', /^\d+$/, `${status}: Retry-After`);
    assert.equal(Number(headers['content-length']), Buffer.byteLength(body!), `${status}: Content-Length matches the body`);
    const json = JSON.parse(body!);
    assert.ok((ERROR_CODES as readonly string[]).includes(json.error), `${status}: ${json.error} is an error code clients know`);
    assert.equal(typeof json.message, 'string');
  }
});

test('TEMPORAL_SERVER_VERSION is the server the pinned Temporal CLI embeds', async (t) => {
  const cli = process.env.TEMPORAL_TEST_CLI;
  const go = await run('go', ['version'], { timeout: 30_000 }).then(() => true, () => false);
  if (!cli || !go) {
    t.skip('needs `npm test` (TEMPORAL_TEST_CLI) and go on PATH');
    return;
  }
  const { stdout } = await run('go', ['version', '-m', cli], { timeout: 60_000, maxBuffer: 10 * 1024 * 1024 });
  const embedded = /^\s*dep\s+go\.temporal\.io\/server\s+v(\S+)/m.exec(stdout)?.[1];
  assert.equal(embedded, TEMPORAL_SERVER_VERSION);
});
