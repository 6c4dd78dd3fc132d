import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { PermitSchema } from '../../src/http/schemas.js';
import { runCli } from '../helpers/cli.js';
import { startListeningService, type ListeningService } from '../helpers/listening-service.js';
import { freePort, http as request } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';

// The script-facing commands (acquire, renew, status, holders, release) and the CLI's answers to
// mistakes, each run as a real process against a listening service.

const EXIT = { usage: 64, unavailable: 69, busy: 75, lost: 76, noPermission: 77 };
const TOKEN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A Node stack frame: the CLI must never print one. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

let service: ListeningService;
before(async () => {
  service = await startListeningService(undefined, { VISIBILITY_LOOKUP_WAIT_MS: '300' });
});
after(() => service?.stop());

const env = () => ({ PERMIT_URL: service.url });

test('a script acquires, checks, renews, lists and releases a permit by its token', async (t) => {
  const resource = uniqueResource('cli-script');
  const acquired = await runCli(t, ['acquire', resource, '--lease', '10s', '--holder', 'nightly backup'], env());
  assert.equal(acquired.code, 0, acquired.stderr);
  const token = acquired.stdout.trim();
  assert.match(token, TOKEN, 'acquire prints just the token');

  const status = await runCli(t, ['status', token], env());
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`^held: ${resource} slot 0 of 1, lease ends \\S+, holder nightly backup\\n$`));

  const before = (await request('GET', `${service.url}/permits/${token}`)).body.expiresAt as string;
  const renewed = await runCli(t, ['renew', token, '--lease', '1m'], env());
  assert.equal(renewed.code, 0, renewed.stderr);
  const expiresAt = renewed.stdout.trim();
  assert.equal(new Date(expiresAt).toISOString(), expiresAt, 'renew prints the new end of the lease');
  assert.ok(Date.parse(expiresAt) > Date.parse(before));

  const holders = await runCli(t, ['holders', resource, '--capacity', '1'], env());
  assert.equal(holders.code, 0, holders.stderr);
  assert.match(holders.stdout, new RegExp(`^${resource}: 1 of 1 slot\\(s\\) held\\n`));
  assert.match(holders.stdout, new RegExp(`^0\\s+${token}\\s+\\S+\\s+nightly backup$`, 'm'));

  const released = await runCli(t, ['release', token], env());
  assert.equal(released.code, 0, released.stderr);
  assert.equal(released.stdout, '');

  const ended = await runCli(t, ['status', token], env());
  assert.equal(ended.code, EXIT.lost, 'status of an ended permit exits with the lost code');
  assert.match(ended.stderr, /permit_ended: .*released/);
  const again = await runCli(t, ['release', token], env());
  assert.equal(again.code, EXIT.lost);
});

test('acquire --json prints the whole permit; holders --json the service\'s view', async (t) => {
  const resource = uniqueResource('cli-json');
  const acquired = await runCli(t, ['acquire', resource, '--json', '--capacity', '2'], env());
  assert.equal(acquired.code, 0, acquired.stderr);
  const permit = PermitSchema.parse(JSON.parse(acquired.stdout));
  assert.equal(permit.resource, resource);
  assert.equal(permit.capacity, 2);

  const holders = await runCli(t, ['holders', resource, '--capacity', '2', '--json'], env());
  assert.equal(holders.code, 0, holders.stderr);
  assert.deepEqual(JSON.parse(holders.stdout).held.map((held: { runId: string }) => held.runId), [permit.runId]);
  assert.equal((await runCli(t, ['release', permit.runId], env())).code, 0);
});

test('permit history prints the past permits newest first as a table with how each ended, and --json the service\'s page', async (t) => {
  const resource = uniqueResource('cli-history');
  const tokens: string[] = [];
  for (const holder of ['first holder', 'second holder', 'third holder']) {
    const acquired = await runCli(t, ['acquire', resource, '--holder', holder], env());
    assert.equal(acquired.code, 0, acquired.stderr);
    tokens.push(acquired.stdout.trim());
    assert.equal((await runCli(t, ['release', tokens.at(-1)!], env())).code, 0);
  }
  // Visibility lists a closed run a moment after it closed.
  let listed: any;
  for (let attempt = 0; attempt < 50; attempt++) {
    listed = JSON.parse((await runCli(t, ['history', resource, '--json'], env())).stdout);
    if (listed.entries.length === 3) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.deepEqual(listed.entries.map((entry: any) => entry.runId), [...tokens].reverse());

  const shown = await runCli(t, ['history', resource, '--limit', '2'], env());
  assert.equal(shown.code, 0, shown.stderr);
  const lines = shown.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ENDED\s+SLOT\s+HOLDER\s+HELD\s+RENEWALS\s+OUTCOME\s+TOKEN$/);
  assert.match(lines[1]!, new RegExp(`^\\S+Z\\s+0\\s+third holder\\s+\\S+\\s+0\\s+released\\s+${tokens[2]}$`));
  assert.match(lines[2]!, new RegExp(`second holder .*released\\s+${tokens[1]}$`));
  const older = /^older: permit history \S+ --before (\S+)$/.exec(lines[3] ?? '');
  assert.ok(older, `the last line names the next page: ${lines[3]}`);
  const next = await runCli(t, ['history', resource, '--before', older[1]!], env());
  assert.match(next.stdout, new RegExp(`first holder .*released\\s+${tokens[0]}\\n$`));

  const bad = await runCli(t, ['history', resource, '--limit', '500'], env());
  assert.equal(bad.code, EXIT.usage);
  assert.match(bad.stderr, /--limit/);
  const badBefore = await runCli(t, ['history', resource, '--before', 'yesterday'], env());
  assert.equal(badBefore.code, EXIT.usage);
  assert.match(badBefore.stderr, /before/);
});

test('acquire --no-wait on a held resource exits with the busy code and prints no token', async (t) => {
  const resource = uniqueResource('cli-acquire-busy');
  const held = await request('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 30_000 });
  const result = await runCli(t, ['acquire', resource, '-n'], env());
  assert.equal(result.code, EXIT.busy, result.stderr);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^permit: resource_busy: all 1 slot\(s\) of resource ".+" are held \(retry after 1s\)\n$/);

  const waited = await runCli(t, ['acquire', resource, '--wait', '1s'], env());
  assert.equal(waited.code, EXIT.busy, 'a bounded wait that runs out is busy too');
  assert.match(waited.stderr, /none was freed within waitMs 1000/);
  assert.equal((await request('DELETE', `${service.url}/permits/${held.body.runId}`)).status, 204);
});

test('a service that cannot be reached gives the unavailable code, for run before anything runs', async (t) => {
  const url = `http://127.0.0.1:${await freePort()}`;
  for (const args of [['acquire', 'anything'], ['status', '00000000-0000-4000-8000-000000000000'], ['run', 'anything', '--', 'true']]) {
    const result = await runCli(t, args, { PERMIT_URL: url });
    assert.equal(result.code, EXIT.unavailable, `${args[0]}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^permit: cannot reach the lock service at ${url}: ECONNREFUSED\\n$`));
  }
});

test('mistakes on the command line exit with the usage code and a message naming the problem', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['run', 'db', '--lease', '5x', '--', 'true'], /--lease: "5x" is not a duration/],
    [['run', 'db', '--wait', '10', '--', 'true'], /--wait: "10" has no unit; write 10s for seconds/],
    [['run', 'db', '--lease', '500ms', '--', 'true'], /--lease: "500ms" is shorter than the minimum 1000 ms/],
    [['run', 'db', '--kill-grace', 'soon', '--', 'true'], /--kill-grace: "soon" is not a duration/],
    [['run', 'db'], /run: the command goes after "--"/],
    [['run', 'db', '--'], /run: missing the command after "--"/],
    [['run', 'db', 'make', 'all'], /the command goes after "--": permit run db \[options\] -- make all/],
    [['run', '--', 'true'], /run: missing <resource>/],
    [['acquire'], /acquire: missing <resource>/],
    [['acquire', 'db', '--capacity', 'two'], /--capacity: "two" is not a whole number/],
    [['acquire', 'db', '-n', '--wait', '5s'], /--no-wait and --wait contradict each other/],
    [['acquire', 'db', '--bogus'], /acquire: unknown option --bogus/],
    [['acquire', 'db', '--lease'], /acquire: --lease needs a value/],
    [['release'], /release: missing <token>/],
    [['release', 'a', 'b'], /release: unexpected argument "b"/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['holders', 'db', '--url', 'ftp://example.com'], /--url \/ PERMIT_URL: "ftp:\/\/example.com" must start with http/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(t, args, env());
    assert.equal(result.code, EXIT.usage, `permit ${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, `permit ${args.join(' ')}`);
    assert.doesNotMatch(result.stderr, STACK_FRAME);
  }
});

test('a request the service refuses as given (bad resource name, lease over its maximum) exits with the usage code', async (t) => {
  const badName = await runCli(t, ['acquire', 'no:colons'], env());
  assert.equal(badName.code, EXIT.usage);
  assert.match(badName.stderr, /^permit: invalid_request: params\.resource: must be 1-128 characters/);
  const tooLong = await runCli(t, ['acquire', uniqueResource('cli-long'), '--lease', '2h'], env());
  assert.equal(tooLong.code, EXIT.usage);
  assert.match(tooLong.stderr, /invalid_request: body\.leaseMs/);
  const badToken = await runCli(t, ['status', 'not-a-token'], env());
  assert.equal(badToken.code, EXIT.usage);
  assert.match(badToken.stderr, /params\.runId: must be a permit runId/);
});

test('--help explains the commands and the exit codes; no arguments at all is a usage error', async (t) => {
  const help = await runCli(t, ['--help']);
  assert.equal(help.code, 0);
  for (const line of [/^Usage: permit <command>/m, /^\s+75\s+busy/m, /^\s+76\s+the permit is lost/m, /^\s+69\s+the service is unreachable/m, /^\s+64\s+bad usage/m]) {
    assert.match(help.stdout, line);
  }
  const runHelp = await runCli(t, ['run', '--help']);
  assert.equal(runHelp.code, 0);
  assert.match(runHelp.stdout, /PERMIT_FENCING_TOKEN/);
  assert.match(runHelp.stdout, /--kill-grace/);
  const bare = await runCli(t, []);
  assert.equal(bare.code, EXIT.usage);
  assert.match(bare.stderr, /^Usage: permit <command>/);
  const version = await runCli(t, ['--version']);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a gateway that refuses the API key: the key is sent as a bearer token, never printed, and the code is 77', async (t) => {
  const seen: Array<string | undefined> = [];
  const gateway = http.createServer((incoming, response) => {
    seen.push(incoming.headers.authorization);
    response.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"invalid API key"}');
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => gateway.close(() => resolve())));
  const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;

  const fromOption = await runCli(t, ['acquire', 'db', '--url', url, '--api-key', 'opt-s3cret']);
  const fromEnv = await runCli(t, ['holders', 'db'], { PERMIT_URL: url, PERMIT_API_KEY: 'env-s3cret' });
  for (const result of [fromOption, fromEnv]) {
    assert.equal(result.code, EXIT.noPermission, result.stderr);
    assert.match(result.stderr, /unexpected_response: unexpected answer HTTP 401/);
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret/);
  }
  assert.deepEqual(seen, ['Bearer opt-s3cret', 'Bearer env-s3cret']);
});

test('the service ignores an API key: commands work the same with one', async (t) => {
  const resource = uniqueResource('cli-key');
  const acquired = await runCli(t, ['acquire', resource, '-n'], { ...env(), PERMIT_API_KEY: 'anything' });
  assert.equal(acquired.code, 0, acquired.stderr);
  assert.equal((await runCli(t, ['release', acquired.stdout.trim()], { ...env(), PERMIT_API_KEY: 'anything' })).code, 0);
});
