import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LockClient, LockServiceError, LockServiceUnreachableError } from '../../packages/client/src/client/index.js';
import { isPermitMemo, leaseEndMs } from '../../src/permits/permit.js';
import { writeKeyFile, type KeyFile, type TestKey } from '../helpers/api-keys.js';
import { childCommand, readJournal, waitForJournal } from '../helpers/child-command.js';
import { runCli, scratchDir, spawnCli } from '../helpers/cli.js';
import { startListeningService, type ListeningService } from '../helpers/listening-service.js';
import { uniqueResource } from '../helpers/service.js';
import { makeSelfSignedCertificate } from '../helpers/tls-certificate.js';

// The CLI and the TypeScript client against a service that checks keys, over HTTP and HTTPS.

const EXIT = { lost: 76, noPermission: 77, unavailable: 69 };

let keys: KeyFile;
let service: ListeningService;

const KEYS: TestKey[] = [
  { name: 'team-a', role: 'client', prefixes: ['team-a.'] },
  { name: 'team-a-ops', role: 'client', prefixes: ['team-a.'] },
  { name: 'root', role: 'admin' },
  // Removed from the file by the test of a key refused while its permit is held.
  { name: 'team-a-revocable', role: 'client', prefixes: ['team-a.'] },
];

before(async () => {
  keys = await writeKeyFile(undefined, KEYS);
  service = await startListeningService(undefined, { API_KEYS_FILE: keys.file });
});
after(async () => {
  await service?.stop();
  await keys?.remove();
});

const cliEnv = (name: string | undefined) => ({ PERMIT_URL: service.url, ...(name && { PERMIT_API_KEY: keys.keys[name]! }) });

test('permit holders works for a key that holds nothing there and shows it no tokens; the holder sees its own', async (t) => {
  const resource = `team-a.${uniqueResource()}`;
  const acquired = await runCli(t, ['acquire', resource, '-n', '--holder', 'nightly job'], cliEnv('team-a'));
  assert.equal(acquired.code, 0, acquired.stderr);
  const token = acquired.stdout.trim();

  const seenByOther = await runCli(t, ['holders', resource], cliEnv('team-a-ops'));
  assert.equal(seenByOther.code, 0, seenByOther.stderr);
  assert.match(seenByOther.stdout, /^0\s+-\s+\S+\s+nightly job$/m);
  assert.ok(!seenByOther.stdout.includes(token));
  const json = await runCli(t, ['holders', resource, '--json'], cliEnv('team-a-ops'));
  assert.ok(!json.stdout.includes(token));

  const seenByHolder = await runCli(t, ['holders', resource], cliEnv('team-a'));
  assert.match(seenByHolder.stdout, new RegExp(`^0\\s+${token}\\s+\\S+\\s+nightly job$`, 'm'));

  // Another key's release is told what an unknown token is told (76); the holder's own works.
  const stolen = await runCli(t, ['release', token], cliEnv('team-a-ops'));
  assert.equal(stolen.code, EXIT.lost, stolen.stderr);
  assert.match(stolen.stderr, /permit_not_found/);
  assert.equal((await runCli(t, ['release', token], cliEnv('team-a'))).code, 0);
});

test('the CLI shows a refused key clearly and exits 77: no key, an unknown key, a resource outside its prefixes', async (t) => {
  const resource = `team-a.${uniqueResource()}`;
  const cases: Array<[Record<string, string>, RegExp]> = [
    [cliEnv(undefined), /^permit: unauthorized: authorization: no API key/m],
    [{ ...cliEnv(undefined), PERMIT_API_KEY: 'lsk_wrong-wrong-wrong' }, /^permit: unauthorized: authorization: unknown API key/m],
  ];
  for (const [env, message] of cases) {
    const result = await runCli(t, ['acquire', resource, '-n'], env);
    assert.equal(result.code, EXIT.noPermission, result.stderr);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stdout + result.stderr, /wrong-wrong/);
  }
  const outside = await runCli(t, ['acquire', `team-b.${uniqueResource()}`, '-n'], cliEnv('team-a'));
  assert.equal(outside.code, EXIT.noPermission, outside.stderr);
  assert.match(outside.stderr, /^permit: forbidden: resource: key "team-a" may not use resource "team-b\./m);
});

test('when the service stops accepting its key while run holds the permit, the command gets SIGTERM before the lease ends and run exits 77', async (t) => {
  const dir = await scratchDir(t);
  const journal = path.join(dir, 'child.jsonl');
  const resource = `team-a.${uniqueResource()}`;
  const run = spawnCli(
    t,
    ['run', resource, '--lease', '5s', '--', ...childCommand(journal, { onSignal: 'exit', signalExitCode: 0 })],
    cliEnv('team-a-revocable'),
  );
  const started = await waitForJournal(journal, (entry) => entry.event === 'started');

  // What an operator does: the key leaves the file, and the service reloads it (SIGHUP, or its file watch).
  t.after(async () => {
    await keys.write(KEYS);
    await service.reloadKeys!();
  });
  await keys.write(KEYS.filter((key) => key.name !== 'team-a-revocable'));
  await service.reloadKeys!();
  const revoked = new LockClient({ url: service.url, apiKey: keys.keys['team-a-revocable'] });
  await assert.rejects(revoked.holders(resource), (error: unknown) => error instanceof LockServiceError && error.status === 401);

  const result = await run.finished(30_000);
  assert.equal(result.code, EXIT.noPermission, result.stderr);
  assert.match(result.stderr, /renewal refused \(unauthorized: authorization: unknown API key\); the permit is lost when its lease runs out/);
  assert.match(result.stderr, /is lost: the service refuses the API key \(authorization: unknown API key\) and the lease is running out; stopping the command/);
  assert.doesNotMatch(result.stdout + result.stderr, new RegExp(keys.keys['team-a-revocable']!));
  const entries = await readJournal(journal);
  const sigterm = entries.find((entry) => entry.event === 'signal' && entry.signal === 'SIGTERM');
  assert.ok(sigterm, `the command got SIGTERM: ${JSON.stringify(entries)}`);
  const described = await service.client.workflow.getHandle(`permit:${resource}:0`, started.env!.PERMIT_RUN_ID!).describe();
  assert.ok(isPermitMemo(described.memo), `a permit's memo: ${JSON.stringify(described.memo)}`);
  // The service's own lease end: from its last renewal, or from the start when none got through.
  const endMs = leaseEndMs(described.startTime, described.memo);
  assert.ok(sigterm.at < endMs, `SIGTERM came ${sigterm.at - endMs} ms after the lease ended`);
});

test('the TypeScript client sends its key: withPermit works, and refusals are LockServiceErrors with status 401 and 403', async () => {
  const resource = `team-a.${uniqueResource()}`;
  const client = new LockClient({ url: service.url, apiKey: keys.keys['team-a'] });
  const result = await client.withPermit(resource, async ({ permit }) => {
    const status = await client.status(permit.runId);
    return status.runId === permit.runId;
  }, { leaseMs: 5_000 });
  assert.equal(result, true);

  const anonymous = new LockClient({ url: service.url });
  await assert.rejects(anonymous.acquire(resource), (error: unknown) => error instanceof LockServiceError && error.status === 401 && error.code === 'unauthorized');
  await assert.rejects(client.acquire(`other.${uniqueResource()}`), (error: unknown) => error instanceof LockServiceError && error.status === 403 && error.code === 'forbidden');
});

test('with TLS_CERT_FILE and TLS_KEY_FILE the service serves HTTPS; the client and the CLI trust it through a CA file', async (t) => {
  const dir = await scratchDir(t);
  const { cert, key } = makeSelfSignedCertificate(dir);
  const secure = await startListeningService(t, { API_KEYS_FILE: keys.file, TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
  assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const resource = `team-a.${uniqueResource()}`;

  const trusting = new LockClient({ url: secure.url, apiKey: keys.keys['team-a'], caFile: cert });
  const permit = await trusting.acquire(resource, { leaseMs: 5_000 });
  assert.equal((await trusting.holders(resource)).held[0]?.runId, permit.runId);
  await trusting.release(permit.runId);
  await assert.rejects(
    new LockClient({ url: secure.url, apiKey: keys.keys['team-a'], caFile: cert }).acquire(`other.${uniqueResource()}`),
    (error: unknown) => error instanceof LockServiceError && error.status === 403,
  );
  // Without the CA the certificate is not trusted: no request gets through.
  await assert.rejects(new LockClient({ url: secure.url, apiKey: keys.keys['team-a'] }).holders(resource), LockServiceUnreachableError);

  const env = { PERMIT_URL: secure.url, PERMIT_API_KEY: keys.keys['team-a']! };
  const viaCli = await runCli(t, ['acquire', resource, '-n'], { ...env, PERMIT_CA_FILE: cert });
  assert.equal(viaCli.code, 0, viaCli.stderr);
  assert.equal((await runCli(t, ['release', viaCli.stdout.trim(), '--ca-file', cert], env)).code, 0);
  const untrusted = await runCli(t, ['holders', resource], env);
  assert.equal(untrusted.code, EXIT.unavailable, untrusted.stderr);
  const missing = await runCli(t, ['holders', resource], { ...env, PERMIT_CA_FILE: path.join(dir, 'nope.pem') });
  assert.equal(missing.code, 64);
  assert.match(missing.stderr, /PERMIT_CA_FILE: .*nope\.pem does not exist/);
});

test('without caFile the TypeScript client trusts an HTTPS service through PERMIT_CA_FILE; caFile wins over it, and a missing file is named when the client is made', async (t) => {
  const dir = await scratchDir(t);
  const { cert, key } = makeSelfSignedCertificate(dir);
  const secure = await startListeningService(t, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
  const resource = uniqueResource('ca-from-env');
  const missing = path.join(dir, 'nope.pem');
  const before = process.env.PERMIT_CA_FILE;
  t.after(() => {
    if (before === undefined) delete process.env.PERMIT_CA_FILE;
    else process.env.PERMIT_CA_FILE = before;
  });

  process.env.PERMIT_CA_FILE = cert;
  const fromEnv = new LockClient({ url: secure.url });
  const permit = await fromEnv.acquire(resource, { leaseMs: 5_000 });
  assert.equal((await fromEnv.holders(resource)).held[0]?.runId, permit.runId);
  await fromEnv.release(permit.runId);
  // A fetch of the caller's own replaces both; Node's global one does not trust the private CA.
  await assert.rejects(new LockClient({ url: secure.url, fetch: globalThis.fetch }).holders(resource), LockServiceUnreachableError);

  process.env.PERMIT_CA_FILE = missing;
  assert.deepEqual((await new LockClient({ url: secure.url, caFile: cert }).holders(resource)).held, []);
  assert.throws(() => new LockClient({ url: secure.url }), { name: 'TypeError', message: `PERMIT_CA_FILE: ${missing} does not exist` });
  assert.throws(() => new LockClient({ url: secure.url, caFile: missing }), { name: 'TypeError', message: `caFile: ${missing} does not exist` });
  assert.doesNotThrow(() => new LockClient({ url: secure.url, fetch: globalThis.fetch }));

  process.env.PERMIT_CA_FILE = '';
  await assert.rejects(new LockClient({ url: secure.url }).holders(resource), LockServiceUnreachableError);
});
