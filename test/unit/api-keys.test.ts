import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { ApiKeysFileError, KeyRing, allowsResource, generateKey, sha256Hex } from '../../src/auth/api-keys.js';
import { REPO_ROOT } from '../helpers/process.js';

const parse = (entries: unknown) => KeyRing.parse(JSON.stringify(entries), '/etc/keys.json');

function assertRefused(entries: unknown, ...expected: RegExp[]): void {
  let caught: unknown;
  try {
    parse(entries);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ApiKeysFileError, `refused: ${JSON.stringify(entries)}`);
  assert.match(caught.message, /^API_KEYS_FILE \/etc\/keys\.json/);
  for (const pattern of expected) assert.match(caught.message, pattern);
}

test('a key is found by what the caller presents, hashed; the file holds its sha256 or, for local use, the key itself', () => {
  const stored = generateKey();
  const plain = generateKey();
  const ring = parse([
    { name: 'ci', role: 'client', prefixes: ['team-a.'], sha256: stored.sha256.toUpperCase() },
    { name: 'laptop', role: 'admin', key: plain.key },
  ]);
  assert.deepEqual(ring.authenticate(stored.key), { name: 'ci', role: 'client', prefixes: ['team-a.'] });
  assert.deepEqual(ring.authenticate(plain.key), { name: 'laptop', role: 'admin', prefixes: [''] });
  assert.equal(ring.authenticate(stored.sha256), undefined, 'the hash itself is not a key');
  assert.equal(ring.authenticate(`${stored.key}x`), undefined);
  assert.equal(ring.authenticate(''), undefined);
  assert.deepEqual(ring.plainKeyNames, ['laptop']);
  assert.equal(sha256Hex(stored.key), stored.sha256);
  assert.match(stored.key, /^lsk_[A-Za-z0-9_-]{43}$/);
});

test('prefixes decide which resources a key may use; "*" is every resource', () => {
  const key = { name: 'k', role: 'client' as const, prefixes: ['team-a.', 'shared-'] };
  assert.ok(allowsResource(key, 'team-a.db'));
  assert.ok(allowsResource(key, 'shared-queue'));
  assert.ok(!allowsResource(key, 'team-b.db'));
  assert.ok(!allowsResource(key, 'team-a'));
  const every = parse([{ name: 'all', role: 'client', prefixes: ['*'], sha256: 'b'.repeat(64) }]).list()[0]!;
  assert.ok(allowsResource(every, 'anything'));
});

test('a bad key file is refused naming the entry and the field, never a key', () => {
  const secret = 'a-plain-key-that-must-not-be-shown';
  assertRefused('not an array' as unknown, /must be a JSON array/);
  assertRefused([], /has no keys/);
  assertRefused([{ name: 'x', role: 'client', prefixes: ['*'] }], /entry 0 \("x"\): sha256: give exactly one of "sha256" \(recommended\) and "key"/);
  assertRefused([{ name: 'x', role: 'client', prefixes: ['*'], sha256: 'abc' }], /entry 0 \("x"\): sha256: must be the SHA-256/);
  assertRefused([{ name: 'x', role: 'owner', prefixes: ['*'], key: secret }], /entry 0 \("x"\): role: must be one of reader, client, admin/);
  assertRefused([{ name: 'x', role: 'client', key: secret }], /entry 0 \("x"\): prefixes: is required/);
  assertRefused([{ name: 'x', role: 'client', prefixes: ['a:b'], key: secret }], /entry 0 \("x"\): prefixes\.0: each prefix/);
  assertRefused([{ name: 'has space', role: 'admin', key: secret }], /entry 0 \("has space"\): name: must be 1-64/);
  assertRefused([{ name: 'x', role: 'admin', key: 'short' }], /entry 0 \("x"\): key: must be at least 16/);
  assertRefused([{ name: 'x', role: 'admin', key: secret, extra: 1 }], /entry 0 \("x"\): entry: Unrecognized key: "extra"|extra/);
  assertRefused(
    [
      { name: 'x', role: 'admin', key: secret },
      { name: 'x', role: 'admin', sha256: sha256Hex(secret) },
    ],
    /entry 1 \("x"\): name: "x" is used by an earlier entry/,
    /entry 1 \("x"\): sha256: the same key as entry "x"/,
  );
  try {
    parse([{ name: 'x', role: 'owner', key: secret }]);
  } catch (error) {
    assert.ok(!(error as Error).message.includes(secret));
  }
  assert.throws(() => KeyRing.parse('[{"name": ', '/etc/keys.json'), /API_KEYS_FILE \/etc\/keys\.json: not valid JSON/);
});

test('permit keygen prints a new key, its sha256 and an entry the service accepts', () => {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'packages/client/src/cli/main.ts'), 'keygen', '--name', 'ci-bot', '--role', 'reader', '--prefix', 'team-a.', '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  const { key, sha256, entry } = JSON.parse(run.stdout);
  assert.equal(sha256Hex(key), sha256);
  assert.deepEqual(entry, { name: 'ci-bot', role: 'reader', prefixes: ['team-a.'], sha256 });
  assert.equal(parse([entry]).authenticate(key)?.name, 'ci-bot');
  const other = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/client/src/cli/main.ts'), 'keygen'], { encoding: 'utf8' });
  assert.equal(other.status, 0, other.stderr);
  assert.match(other.stdout, /^key: {4}lsk_\S+\nsha256: [0-9a-f]{64}\nentry: {2}\{.*"role":"client","prefixes":\["\*"\]/);
  assert.ok(!other.stdout.includes(key), 'every key is new');
  const bad = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'packages/client/src/cli/main.ts'), 'keygen', '--role', 'root'], { encoding: 'utf8' });
  assert.equal(bad.status, 64);
  assert.match(bad.stderr, /--role: "root" is not one of reader, client, admin/);
});
