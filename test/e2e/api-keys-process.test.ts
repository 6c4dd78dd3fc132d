import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { writeKeyFile } from '../helpers/api-keys.js';
import { http, spawnService, startReplica, tempDataDir, type LogLine } from '../helpers/process.js';
import { testTemporalAddress, uniqueResource } from '../helpers/service.js';

// The real entry point with a key file: what it logs, what stops it from starting, and SIGHUP.

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

test('a test run\'s log holds no key and no authorization header, whatever the requests carried', async (t) => {
  const keys = await writeKeyFile(t, [
    { name: 'admin-1', role: 'admin' },
    { name: 'ci', role: 'client', prefixes: ['ci-'] },
    { name: 'dev-laptop', role: 'client', prefixes: ['*'], plain: true },
  ]);
  const replica = await startReplica(t, {
    API_KEYS_FILE: keys.file,
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
    SERVICE_ROLE: 'api',
    LOG_LEVEL: 'trace',
    VISIBILITY_LOOKUP_WAIT_MS: '200',
  });
  const strangers = [`lsk_${randomUUID()}`, `sk-live-${randomUUID()}`];
  const resource = `ci-${uniqueResource()}`;

  const acquired = await http('POST', `${replica.url}/resources/${resource}/acquire`, { holder: 'log test' }, { headers: bearer(keys.keys.ci!) });
  assert.equal(acquired.status, 201, JSON.stringify(acquired.body));
  for (const headers of [
    bearer(strangers[0]!),
    { authorization: strangers[1]! },
    { authorization: `Basic ${Buffer.from(`user:${strangers[1]}`).toString('base64')}` },
    { ...bearer(keys.keys['dev-laptop']!), cookie: `session=${strangers[0]}`, 'x-api-key': strangers[1]! },
    bearer(keys.keys.ci!),
  ]) {
    await http('GET', `${replica.url}/resources/${resource}`, undefined, { headers });
    await http('DELETE', `${replica.url}/permits/${acquired.body.runId}`, undefined, { headers });
    await http('POST', `${replica.url}/resources/not:valid/acquire`, { leaseMs: -1 }, { headers });
  }
  const forced = await http(
    'POST',
    `${replica.url}/permits/${acquired.body.runId}/force-release`,
    { reason: 'log test' },
    { headers: bearer(keys.keys['admin-1']!) },
  );
  assert.ok(forced.status === 204 || forced.status === 410, JSON.stringify(forced.body));
  const another = await http('POST', `${replica.url}/resources/${resource}/acquire`, {}, { headers: bearer(keys.keys.ci!) });
  assert.equal(another.status, 201);
  const force = await http(
    'POST',
    `${replica.url}/permits/${another.body.runId}/force-release`,
    { reason: 'stuck job 7' },
    { headers: bearer(keys.keys['admin-1']!) },
  );
  assert.equal(force.status, 204, JSON.stringify(force.body));
  // The force-release is logged with who and why; waited for, since the line may follow the answer.
  const logged = await replica.waitForLog('"permit force-released"', (line) => line.msg === 'permit force-released' && line.runId === another.body.runId);
  assert.equal(logged.by, 'admin-1');
  assert.equal(logged.reason, 'stuck job 7');
  await replica.waitForLog('a request log line at trace', (line) => line.msg === 'incoming request');

  const everything = `${replica.logs.map((line) => JSON.stringify(line)).join('\n')}\n${replica.stderr()}`;
  for (const secret of [...Object.values(keys.keys), ...strangers]) {
    assert.ok(!everything.includes(secret), 'a key reached the log');
    assert.ok(!everything.includes(Buffer.from(`user:${secret}`).toString('base64')), 'an encoded key reached the log');
  }
  // Only the placeholder of the 401's own advice: "Bearer <key>".
  assert.doesNotMatch(everything, /bearer +(?!<key>)/i);
  // The plain key in the file was warned about, by entry name.
  const warning = replica.logs.find((line) => String(line.msg).includes('plain "key"'));
  assert.deepEqual(warning?.entries, ['dev-laptop']);
});

test('a key file with a bad entry stops start-up with a message naming the entry and the field, never the key', async (t) => {
  const dir = await tempDataDir(t);
  const file = path.join(dir, 'keys.json');
  const secret = `lsk_${randomUUID()}`;
  await fs.writeFile(
    file,
    JSON.stringify([
      { name: 'good', role: 'admin', sha256: 'a'.repeat(64) },
      { name: 'typo', role: 'superuser', key: secret, prefixes: ['x-'] },
    ]),
  );
  const proc = spawnService(t, dir, { TEMPORAL_ADDRESS: testTemporalAddress(), API_KEYS_FILE: file, PORT: '0' });
  const exit = await proc.waitForExit(60_000);
  assert.equal(exit.code, 2);
  assert.match(proc.stderr(), /API_KEYS_FILE .*keys\.json/);
  assert.match(proc.stderr(), /entry 1 \("typo"\): role: must be one of reader, client, admin/);
  assert.ok(!proc.stderr().includes(secret) && !JSON.stringify(proc.logs).includes(secret));

  // A missing file stops it too, naming the variable.
  const missing = spawnService(t, dir, { TEMPORAL_ADDRESS: testTemporalAddress(), API_KEYS_FILE: path.join(dir, 'nope.json'), PORT: '0' });
  assert.equal((await missing.waitForExit(60_000)).code, 2);
  assert.match(missing.stderr(), /API_KEYS_FILE .*nope\.json: cannot be read \(ENOENT\)/);
});

test('SIGHUP reloads the key file: a new key works and a removed one is refused, without a restart; a bad file keeps the keys in force', async (t) => {
  const keys = await writeKeyFile(t, [{ name: 'old', role: 'client', prefixes: ['*'] }]);
  const replica = await startReplica(t, { API_KEYS_FILE: keys.file, TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`, SERVICE_ROLE: 'api' });
  const view = (key: string) => http('GET', `${replica.url}/resources/${uniqueResource()}?capacity=1`, undefined, { headers: bearer(key) });
  assert.equal((await view(keys.keys.old!)).status, 200);

  await keys.write([{ name: 'new', role: 'client', prefixes: ['*'] }]);
  const reloads = () => replica.logs.filter((line: LogLine) => line.msg === 'API keys reloaded').length;
  process.kill(replica.child.pid!, 'SIGHUP');
  await replica.waitForLog('"API keys reloaded"', () => reloads() >= 1);
  assert.equal((await view(keys.keys.new!)).status, 200);
  assert.equal((await view(keys.keys.old!)).status, 401);

  await fs.writeFile(keys.file, '[{"name": "broken"');
  process.kill(replica.child.pid!, 'SIGHUP');
  const refused = await replica.waitForLog('"API keys not reloaded"', (line) => line.msg === 'API keys not reloaded; the previous keys stay in force');
  assert.match(String(refused.problem), /not valid JSON/);
  assert.equal((await view(keys.keys.new!)).status, 200, 'the keys in force stay');
  assert.equal((await http('GET', `${replica.url}/healthz`)).status, 200, 'SIGHUP did not stop the service');
});

test('a changed key file is picked up without a signal', async (t) => {
  const keys = await writeKeyFile(t, [{ name: 'before', role: 'client', prefixes: ['*'] }]);
  const replica = await startReplica(t, { API_KEYS_FILE: keys.file, TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`, SERVICE_ROLE: 'api' });
  await keys.write([{ name: 'after', role: 'client', prefixes: ['*'] }]);
  await replica.waitForLog('"API keys reloaded" for the changed file', (line) => line.msg === 'API keys reloaded' && line.why === 'the file changed', 30_000);
  const view = (key: string) => http('GET', `${replica.url}/resources/${uniqueResource()}?capacity=1`, undefined, { headers: bearer(key) });
  assert.equal((await view(keys.keys.after!)).status, 200);
  assert.equal((await view(keys.keys.before!)).status, 401);
});

test('without a key file the service refuses a non-loopback HOST, and with ALLOW_UNAUTHENTICATED=true it starts with a warning', async (t) => {
  const dir = await tempDataDir(t);
  const refused = spawnService(t, dir, { TEMPORAL_ADDRESS: testTemporalAddress(), HOST: '0.0.0.0', PORT: '0' });
  assert.equal((await refused.waitForExit(60_000)).code, 2);
  assert.match(refused.stderr(), /HOST: HOST=0\.0\.0\.0 .*API_KEYS_FILE.*ALLOW_UNAUTHENTICATED=true/);

  const open = await startReplica(t, {
    HOST: '0.0.0.0',
    ALLOW_UNAUTHENTICATED: 'true',
    SERVICE_ROLE: 'api',
    TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`,
  });
  const warning = open.logs.find((line) => line.level === 40 && String(line.msg).startsWith('ALLOW_UNAUTHENTICATED=true'));
  assert.ok(warning, 'a warning at start-up');
});
