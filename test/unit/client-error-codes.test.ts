import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { LockClient, LockServiceError } from '../../packages/client/src/client/index.js';
import { ERROR_CODES } from '../../packages/client/src/wire/schemas.js';
import { REPO_ROOT } from '../helpers/process.js';

// clients/conformance/errors.json lists every error code for the Python and Go clients' tests; it
// must not fall behind the wire contract, and the TypeScript client must carry every field of it.

interface ErrorEntry {
  code: string;
  status: number[];
  retryAfter?: boolean;
  retryable?: boolean;
  permitGone?: boolean;
  keyRefused?: boolean;
  state?: string;
  capacity?: number;
  python: string;
  go: string;
}

const RETRY_AFTER_SECONDS = 7;

async function errorEntries(): Promise<ErrorEntry[]> {
  const file = path.join(REPO_ROOT, 'clients', 'conformance', 'errors.json');
  return (JSON.parse(await fs.readFile(file, 'utf8')) as { errors: ErrorEntry[] }).errors;
}

/** A client whose every request gets this error answer. */
function clientAnswering(entry: ErrorEntry, status: number): LockClient {
  const body = {
    error: entry.code,
    message: `stub ${entry.code}`,
    ...(entry.state && { state: entry.state }),
    ...(entry.capacity !== undefined && { capacity: entry.capacity }),
  };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (entry.retryAfter) headers['retry-after'] = String(RETRY_AFTER_SECONDS);
  const fetch = (async () => new Response(JSON.stringify(body), { status, headers })) as typeof globalThis.fetch;
  return new LockClient({ url: 'http://stub.invalid', fetch });
}

test('clients/conformance/errors.json lists every error code of the wire contract, once each', async () => {
  const codes = (await errorEntries()).map((entry) => entry.code);
  assert.equal(new Set(codes).size, codes.length, 'a code is listed twice');
  assert.deepEqual([...codes].sort(), [...ERROR_CODES].sort());
});

test('the TypeScript client turns every error answer into a LockServiceError with its code, status, Retry-After, state and capacity', async () => {
  for (const entry of await errorEntries()) {
    for (const status of entry.status) {
      const where = `${entry.code} ${status}`;
      const error = await clientAnswering(entry, status).status('a-run-id').then(
        () => assert.fail(`${where}: no error`),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof LockServiceError, `${where}: ${String(error)}`);
      assert.equal(error.code, entry.code, where);
      assert.equal(error.status, status, where);
      assert.equal(error.message, `stub ${entry.code}`, where);
      assert.equal(error.retryAfterSeconds, entry.retryAfter ? RETRY_AFTER_SECONDS : undefined, where);
      assert.equal(error.state, entry.state, where);
      assert.equal(error.capacity, entry.capacity, where);
      assert.equal(error.retryable, Boolean(entry.retryable), `${where}: retryable`);
      assert.equal(error.permitGone, Boolean(entry.permitGone), `${where}: permitGone`);
      assert.equal(error.keyRefused, Boolean(entry.keyRefused), `${where}: keyRefused`);
    }
  }
});
