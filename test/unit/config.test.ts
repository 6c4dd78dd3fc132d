import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, describeConfig, loadConfig, type Config } from '../../src/config.js';

// Every call passes its own env object: the tests must not depend on the shell that runs them.

/** Asserts that loading env fails with a ConfigError whose message names the variable. */
function assertRejected(env: Record<string, string>, variable: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(env)}, got ${String(caught)}`);
  assert.match(caught.message, new RegExp(`\\b${variable}\\b`), `message should name ${variable}: ${caught.message}`);
  return caught;
}

test('an empty environment gives the documented defaults', () => {
  const config = loadConfig({});
  assert.equal(config.role, 'all');
  assert.equal(config.port, 8080);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.logLevel, 'info');
  assert.equal(config.dataDir, path.resolve('./data'));
  assert.ok(path.isAbsolute(config.dataDir));

  assert.equal(config.temporal.address, undefined, 'no TEMPORAL_ADDRESS means the embedded dev server');
  assert.equal(config.temporal.namespace, 'default');
  assert.equal(config.temporal.taskQueue, 'lock-service');
  assert.equal(config.temporal.tls, false);
  assert.equal(config.temporal.apiKey, undefined);
  assert.equal(config.temporal.tlsCertPath, undefined);
  assert.equal(config.temporal.tlsKeyPath, undefined);

  assert.equal(config.devServer.port, 7233);
  assert.equal(config.devServer.uiPort, 8233);
  assert.equal(config.devServer.cliPath, undefined);
  assert.equal(config.devServer.cacheDir, path.join(os.homedir(), '.cache', 'temporal-lock-service'));
  assert.equal(config.devServer.retentionMs, 86_400_000, 'PERMIT_RETENTION: 24h, the dev server\'s own');
  assert.equal(config.workflowBundleDir, undefined, 'WORKFLOW_BUNDLE_DIR: beside the code');
  assert.equal(config.workerCachedPermits, undefined, 'WORKER_CACHED_PERMITS: the SDK\'s, from the heap limit');
  assert.deepEqual(config.permitStart, { delay: 'lease', eager: false }, 'PERMIT_START_DELAY lease, TEMPORAL_EAGER_START off');

  assert.deepEqual(config.limits, {
    defaultLeaseMs: 30_000,
    maxLeaseMs: 3_600_000,
    maxHoldMs: 86_400_000,
    maxRenewals: 5_000,
    expiredLeaseGraceMs: 5_000,
    maxCapacity: 10_000,
    maxWaitMs: 300_000,
    visibilityLookupWaitMs: 2_000,
    maxHolderLength: 256,
  });
  assert.deepEqual(config.resourceCapacities, {});
  assert.deepEqual(config.auth, { keysFile: undefined, allowUnauthenticated: false });
  assert.deepEqual(config.http, {
    bodyLimitBytes: 16_384,
    maxHeaderBytes: 16_384,
    rateLimitPerSecond: 1_000,
    maxWaitersPerKey: 100,
    tlsCertPath: undefined,
    tlsKeyPath: undefined,
  });
});

test('PERMIT_RETENTION takes a whole number with one unit; a bare number, another unit or an out-of-range one names the variable', () => {
  assert.equal(loadConfig({ PERMIT_RETENTION: '90m' }).devServer.retentionMs, 5_400_000);
  assert.equal(loadConfig({ PERMIT_RETENTION: '7d' }).devServer.retentionMs, 604_800_000);
  assert.equal(loadConfig({ PERMIT_RETENTION: ' 3s ' }).devServer.retentionMs, 3_000);
  for (const bad of ['24', '1h30m', '2w', '0s', '-1h', '3651d']) assertRejected({ PERMIT_RETENTION: bad }, 'PERMIT_RETENTION');
});

test('WORKER_CACHED_PERMITS bounds the worker\'s cache; the SDK refuses fewer than 2', () => {
  assert.equal(loadConfig({ WORKER_CACHED_PERMITS: '500' }).workerCachedPermits, 500);
  for (const bad of ['1', '0', 'many', '1.5']) assertRejected({ WORKER_CACHED_PERMITS: bad }, 'WORKER_CACHED_PERMITS');
});

test('PERMIT_START_DELAY is lease or none, and eager starts need no delay and a worker in the process', () => {
  assert.deepEqual(loadConfig({ PERMIT_START_DELAY: 'none', TEMPORAL_EAGER_START: 'true' }).permitStart, { delay: 'none', eager: true });
  assertRejected({ PERMIT_START_DELAY: '30s' }, 'PERMIT_START_DELAY');
  assertRejected({ TEMPORAL_EAGER_START: 'true' }, 'TEMPORAL_EAGER_START');
  assertRejected(
    { TEMPORAL_EAGER_START: 'true', PERMIT_START_DELAY: 'none', SERVICE_ROLE: 'api', TEMPORAL_ADDRESS: 'temporal:7233' },
    'TEMPORAL_EAGER_START',
  );
});

test('numbers and booleans are coerced from their string form', () => {
  const config = loadConfig({
    PORT: '9000',
    HOST: '0.0.0.0',
    ALLOW_UNAUTHENTICATED: 'true',
    DATA_DIR: '/var/lib/locks',
    DEFAULT_LEASE_MS: '10000',
    MAX_LEASE_MS: '60000',
    MAX_HOLD_MS: '120000',
    MAX_RENEWALS: '0',
    MAX_CAPACITY: '50',
    MAX_WAIT_MS: '0',
    VISIBILITY_LOOKUP_WAIT_MS: '0',
    TEMPORAL_ADDRESS: ' temporal.example:7233 ',
    TEMPORAL_NAMESPACE: 'locks',
    TEMPORAL_TASK_QUEUE: 'locks-q',
    TEMPORAL_TLS: 'true',
    LOG_LEVEL: 'debug',
    SERVICE_ROLE: 'api',
    EXPIRED_LEASE_GRACE_MS: '8000',
  });
  assert.equal(config.role, 'api');
  assert.equal(config.port, 9000);
  assert.equal(config.host, '0.0.0.0');
  assert.equal(config.dataDir, '/var/lib/locks');
  assert.equal(config.logLevel, 'debug');
  assert.deepEqual(config.limits, {
    defaultLeaseMs: 10_000,
    maxLeaseMs: 60_000,
    maxHoldMs: 120_000,
    maxRenewals: 0,
    expiredLeaseGraceMs: 8_000,
    maxCapacity: 50,
    maxWaitMs: 0,
    visibilityLookupWaitMs: 0,
    maxHolderLength: 256,
  });
  assert.equal(config.temporal.address, 'temporal.example:7233');
  assert.equal(config.temporal.namespace, 'locks');
  assert.equal(config.temporal.taskQueue, 'locks-q');
  assert.equal(config.temporal.tls, true);
});

test('TEMPORAL_TLS accepts true/false/1/0/yes/no, and "false" really means false', () => {
  for (const [value, expected] of [
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ] as const) {
    assert.equal(loadConfig({ TEMPORAL_TLS: value }).temporal.tls, expected, `TEMPORAL_TLS=${value}`);
  }
});

test('an API key or a client certificate turns TLS on unless TEMPORAL_TLS=false', () => {
  assert.equal(loadConfig({ TEMPORAL_API_KEY: 'k' }).temporal.tls, true);
  assert.equal(loadConfig({ TEMPORAL_TLS_CERT: '/c.pem', TEMPORAL_TLS_KEY: '/k.pem' }).temporal.tls, true);
  assert.equal(loadConfig({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }).temporal.tls, false);
});

test('a blank TEMPORAL_ADDRESS means the embedded dev server', () => {
  assert.equal(loadConfig({ TEMPORAL_ADDRESS: '' }).temporal.address, undefined);
  assert.equal(loadConfig({ TEMPORAL_ADDRESS: '   ' }).temporal.address, undefined);
});

test('RESOURCE_CAPACITIES parses name=capacity pairs separated by commas', () => {
  assert.deepEqual(loadConfig({ RESOURCE_CAPACITIES: 'gpu-pool=3,db=1' }).resourceCapacities, { 'gpu-pool': 3, db: 1 });
  assert.deepEqual(loadConfig({ RESOURCE_CAPACITIES: ' gpu-pool=3 , db=1, ' }).resourceCapacities, {
    'gpu-pool': 3,
    db: 1,
  });
  assert.deepEqual(loadConfig({ RESOURCE_CAPACITIES: 'a.b_c=10000' }).resourceCapacities, { 'a.b_c': 10_000 });
  assert.deepEqual(loadConfig({ RESOURCE_CAPACITIES: '' }).resourceCapacities, {});
});

test('each bad value stops loading with a ConfigError naming the variable', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ DEFAULT_LEASE_MS: '999' }, 'DEFAULT_LEASE_MS'],
    [{ MAX_CAPACITY: '0' }, 'MAX_CAPACITY'],
    [{ MAX_WAIT_MS: 'soon' }, 'MAX_WAIT_MS'],
    [{ MAX_LEASE_MS: '7200000', MAX_HOLD_MS: '3600000' }, 'MAX_LEASE_MS'],
    [{ DEFAULT_LEASE_MS: '60000', MAX_LEASE_MS: '30000' }, 'DEFAULT_LEASE_MS'],
    [{ RESOURCE_CAPACITIES: 'a:b=2' }, 'RESOURCE_CAPACITIES'],
    [{ RESOURCE_CAPACITIES: 'db' }, 'RESOURCE_CAPACITIES'],
    [{ RESOURCE_CAPACITIES: 'db=two' }, 'RESOURCE_CAPACITIES'],
    [{ RESOURCE_CAPACITIES: 'db=-1' }, 'RESOURCE_CAPACITIES'],
    [{ RESOURCE_CAPACITIES: 'db=0' }, 'RESOURCE_CAPACITIES'],
    [{ RESOURCE_CAPACITIES: 'db=20', MAX_CAPACITY: '10' }, 'RESOURCE_CAPACITIES'],
    [{ RESOURCE_CAPACITIES: 'café=2' }, 'RESOURCE_CAPACITIES'],
    [{ TEMPORAL_TLS: 'maybe' }, 'TEMPORAL_TLS'],
    [{ TEMPORAL_TLS_CERT: '/certs/client.pem' }, 'TEMPORAL_TLS_CERT'],
    [{ TEMPORAL_TLS_KEY: '/certs/client.key' }, 'TEMPORAL_TLS_CERT'],
    [{ TEMPORAL_RPC_TIMEOUT_MS: '10' }, 'TEMPORAL_RPC_TIMEOUT_MS'],
    [{ MAX_RENEWALS: '5001' }, 'MAX_RENEWALS'],
    [{ MAX_RENEWALS: '-1' }, 'MAX_RENEWALS'],
    [{ MAX_RENEWALS: 'many' }, 'MAX_RENEWALS'],
    [{ SERVICE_ROLE: 'both' }, 'SERVICE_ROLE'],
    [{ EXPIRED_LEASE_GRACE_MS: 'soon' }, 'EXPIRED_LEASE_GRACE_MS'],
    [{ TEMPORAL_UI_URL: 'temporal-ui:8080' }, 'TEMPORAL_UI_URL'],
    [{ TEMPORAL_UI_URL: 'ftp://temporal-ui' }, 'TEMPORAL_UI_URL'],
    [{ EVENTS_REFRESH_MS: '100' }, 'EVENTS_REFRESH_MS'],
    [{ EVENTS_KEEPALIVE_MS: 'often' }, 'EVENTS_KEEPALIVE_MS'],
  ];
  for (const [env, variable] of cases) assertRejected(env, variable);
});

test('TEMPORAL_UI_URL takes an http(s) URL, and one carrying a password is refused without echoing it', () => {
  assert.equal(loadConfig({ TEMPORAL_UI_URL: 'https://temporal.example/ui' }).temporal.uiUrl, 'https://temporal.example/ui');
  assert.equal(loadConfig({}).temporal.uiUrl, undefined, 'unset: the embedded server\'s own UI, else no link');
  assert.deepEqual(loadConfig({}).events, { refreshMs: 5_000, keepAliveMs: 15_000 });
  assert.throws(
    () => loadConfig({ TEMPORAL_UI_URL: 'https://ops:hunter2@temporal.example' }),
    (error: Error) => error.message.includes('TEMPORAL_UI_URL') && !error.message.includes('hunter2'),
  );
});

test('a variable set to nothing is treated as not set', () => {
  assert.equal(loadConfig({ HOST: '' }).host, '127.0.0.1');
  assert.equal(loadConfig({ TEMPORAL_ADDRESS: '  ' }).temporal.address, undefined);
});

test('the error shows the rejected value, so the operator sees what was read', () => {
  const error = assertRejected({ PORT: 'abc' }, 'PORT');
  assert.match(error.message, /"abc"/);
});

test('every bad variable is reported at once, not only the first', () => {
  const error = assertRejected({ PORT: 'abc', TEMPORAL_TLS: 'maybe', LOG_LEVEL: 'loud' }, 'PORT');
  assert.match(error.message, /\bTEMPORAL_TLS\b/);
  assert.match(error.message, /\bLOG_LEVEL\b/);
});

test('an empty numeric variable means its default or an error, never a silent 0', () => {
  // `PORT=` (say, an unset variable passed through a compose file) must not mean "listen on a random port".
  const read: Record<string, (config: Config) => number> = {
    PORT: (config) => config.port,
    MAX_WAIT_MS: (config) => config.limits.maxWaitMs,
    TEMPORAL_DEV_UI_PORT: (config) => config.devServer.uiPort,
    VISIBILITY_LOOKUP_WAIT_MS: (config) => config.limits.visibilityLookupWaitMs,
  };
  const defaults = loadConfig({});
  for (const [variable, get] of Object.entries(read)) {
    let config: Config;
    try {
      config = loadConfig({ [variable]: '' });
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`\\b${variable}\\b`));
      continue;
    }
    assert.equal(get(config), get(defaults), `${variable}="" gave ${get(config)}, not the default ${get(defaults)}`);
  }
});

test('TEMPORAL_API_KEY never appears in describeConfig', () => {
  const secret = 'tcld-super-secret-api-key-1234';
  const config = loadConfig({ TEMPORAL_ADDRESS: 'ns.tmprl.cloud:7233', TEMPORAL_API_KEY: secret });
  assert.equal(config.temporal.apiKey, secret, 'the loaded config keeps the key for the connection');
  const described = describeConfig(config);
  assert.ok(!JSON.stringify(described).includes(secret));
  assert.equal((described.temporal as { apiKey: unknown }).apiKey, '<set>');
  assert.equal((describeConfig(loadConfig({})).temporal as { apiKey: unknown }).apiKey, undefined);
});

test('TEMPORAL_API_KEY never appears in a configuration error', () => {
  const secret = 'tcld-super-secret-api-key-5678';
  const error = assertRejected({ TEMPORAL_API_KEY: secret, PORT: 'abc', TEMPORAL_TLS: 'maybe' }, 'PORT');
  assert.ok(!error.message.includes(secret));
  assert.ok(!String(error.stack).includes(secret));
});

test('SERVICE_ROLE api or worker without TEMPORAL_ADDRESS stops start-up: split replicas share one Temporal server', () => {
  for (const role of ['api', 'worker']) {
    const error = assertRejected({ SERVICE_ROLE: role }, 'SERVICE_ROLE');
    assert.match(error.message, /TEMPORAL_ADDRESS/);
    assert.equal(loadConfig({ SERVICE_ROLE: role, TEMPORAL_ADDRESS: 'temporal:7233' }).role, role);
  }
});

test('EXPIRED_LEASE_GRACE_MS no longer than the permit runs\' workflow task timeout stops start-up, saying why', () => {
  for (const value of ['0', '2000']) {
    const error = assertRejected({ EXPIRED_LEASE_GRACE_MS: value }, 'EXPIRED_LEASE_GRACE_MS');
    assert.match(error.message, /workflow task timeout \(2000 ms\)/);
  }
  assert.equal(loadConfig({ EXPIRED_LEASE_GRACE_MS: '2001' }).limits.expiredLeaseGraceMs, 2_001);
});

test('without API_KEYS_FILE only a loopback HOST starts, unless ALLOW_UNAUTHENTICATED=true', () => {
  for (const host of ['0.0.0.0', '10.1.2.3', '::', 'lock.internal']) {
    const error = assertRejected({ HOST: host }, 'HOST');
    assert.match(error.message, /API_KEYS_FILE/);
    assert.match(error.message, /ALLOW_UNAUTHENTICATED/);
    assert.equal(loadConfig({ HOST: host, ALLOW_UNAUTHENTICATED: 'true' }).auth.allowUnauthenticated, true);
    assert.equal(loadConfig({ HOST: host, API_KEYS_FILE: '/etc/lock/keys.json' }).auth.keysFile, '/etc/lock/keys.json');
  }
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) assert.equal(loadConfig({ HOST: host }).host, host);
  assertRejected({ HOST: '0.0.0.0', ALLOW_UNAUTHENTICATED: 'maybe' }, 'ALLOW_UNAUTHENTICATED');
});

test('the HTTP limits are read from their variables, and a value out of range names the variable', () => {
  const config = loadConfig({
    BODY_LIMIT_BYTES: '2048',
    MAX_HEADER_BYTES: '4096',
    MAX_HOLDER_LENGTH: '40',
    RATE_LIMIT_PER_SECOND: '0',
    MAX_WAITERS_PER_KEY: '3',
    TLS_CERT_FILE: '/tls/cert.pem',
    TLS_KEY_FILE: '/tls/key.pem',
  });
  assert.equal(config.http.bodyLimitBytes, 2_048);
  assert.equal(config.http.maxHeaderBytes, 4_096);
  assert.equal(config.limits.maxHolderLength, 40);
  assert.equal(config.http.rateLimitPerSecond, 0);
  assert.equal(config.http.maxWaitersPerKey, 3);
  assert.equal(config.http.tlsCertPath, '/tls/cert.pem');
  for (const [variable, value] of [
    ['BODY_LIMIT_BYTES', '100'],
    ['MAX_HEADER_BYTES', 'lots'],
    ['MAX_HOLDER_LENGTH', '0'],
    ['RATE_LIMIT_PER_SECOND', '-1'],
    ['MAX_WAITERS_PER_KEY', '0'],
  ] as const) {
    assertRejected({ [variable]: value }, variable);
  }
  assertRejected({ TLS_CERT_FILE: '/tls/cert.pem' }, 'TLS_CERT_FILE');
});
