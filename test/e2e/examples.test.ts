import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { writeKeyFile, type KeyFile } from '../helpers/api-keys.js';
import { startListeningService, type ListeningService } from '../helpers/listening-service.js';
import { REPO_ROOT, http } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';
import { spawnWatched } from '../helpers/watched-process.js';

// The examples in other languages (examples/) are documentation that must stay true: each runs,
// as a reader would run it, against a listening service.

let service: ListeningService;
let keys: KeyFile;
before(async () => {
  keys = await writeKeyFile(undefined, [
    { name: 'examples', role: 'client', prefixes: ['example-'] },
    { name: 'other', role: 'client', prefixes: ['example-'] },
  ]);
  service = await startListeningService(undefined, { API_KEYS_FILE: keys.file });
});
after(async () => {
  await service?.stop();
  await keys?.remove();
});

interface Example {
  name: string;
  /** The program the example needs on PATH. */
  tool: string;
  command: string;
  args: string[];
  cwd: string;
  env?: Record<string, string>;
}

const EXAMPLES: Example[] = [
  { name: 'curl', tool: 'curl', command: 'bash', args: ['curl.sh'], cwd: path.join(REPO_ROOT, 'examples') },
  { name: 'Python', tool: 'python3', command: 'python3', args: ['permit_example.py'], cwd: path.join(REPO_ROOT, 'examples', 'python') },
  {
    name: 'Go',
    tool: 'go',
    command: 'go',
    args: ['run', '.'],
    cwd: path.join(REPO_ROOT, 'examples', 'go'),
    // The standard library only: never download a toolchain or a module.
    env: { GOTOOLCHAIN: 'local', GOPROXY: 'off' },
  },
];

/** The first build of the Go example compiles net/http; a busy machine needs a while. */
const EXAMPLE_TIMEOUT_MS = 240_000;

function installed(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

async function holders(resource: string): Promise<unknown[]> {
  const answer = await http('GET', `${service.url}/resources/${resource}?capacity=1`, undefined, { headers: keys.auth('examples') });
  assert.equal(answer.status, 200);
  return answer.body.held;
}

function assertEveryStep(stdout: string, resource: string): string {
  const token = new RegExp(`^acquired ${resource}(?: slot 0)?, token ([0-9a-f-]{36})$`, 'm').exec(stdout)?.[1];
  assert.ok(token, `the example says what it acquired:\n${stdout}`);
  assert.match(stdout, /^renewed until \d{4}-\d\d-\d\dT\S+Z$/m);
  assert.match(stdout, /^token checked: still held$/m);
  assert.match(stdout, /^released$/m);
  return token;
}

for (const example of EXAMPLES) {
  const run = (t: TestContext, resource: string, apiKey = keys.keys.examples!) =>
    spawnWatched(t, example.command, [...example.args, resource], {
      cwd: example.cwd,
      env: { PERMIT_URL: service.url, PERMIT_API_KEY: apiKey, ...example.env },
    });

  test(`the ${example.name} example acquires, renews, checks the token and releases`, async (t) => {
    if (!installed(example.tool)) return t.skip(`${example.tool} is not installed`);
    const resource = uniqueResource(`example-${example.tool}`);
    const result = await run(t, resource).finished(EXAMPLE_TIMEOUT_MS);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const token = assertEveryStep(result.stdout, resource);

    const ended = await http('GET', `${service.url}/permits/${token}`, undefined, { headers: keys.auth('examples') });
    assert.equal(ended.status, 410);
    assert.equal(ended.body.state, 'released');
    assert.deepEqual(await holders(resource), []);
  });

  test(`the ${example.name} example waits out a 409 as Retry-After says, then gets the permit`, async (t) => {
    if (!installed(example.tool)) return t.skip(`${example.tool} is not installed`);
    const resource = uniqueResource(`example-busy-${example.tool}`);
    const held = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 60_000 }, { headers: keys.auth('other') });
    assert.equal(held.status, 201);

    const running = run(t, resource);
    await running.waitForStdout(/^busy \(resource_busy\); retrying in 1s$/m, EXAMPLE_TIMEOUT_MS);
    assert.equal((await http('DELETE', `${service.url}/permits/${held.body.runId}`, undefined, { headers: keys.auth('other') })).status, 204);

    const result = await running.finished(EXAMPLE_TIMEOUT_MS);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const token = assertEveryStep(result.stdout, resource);
    assert.notEqual(token, held.body.runId);
    assert.deepEqual(await holders(resource), []);
  });
}

/** `go run` exits 1 and says "exit status N" when the program exits N. */
function assertExited77(result: { code: number | null; stdout: string; stderr: string }): void {
  const ok = result.code === 77 || (result.code === 1 && /^exit status 77$/m.test(result.stderr));
  assert.ok(ok, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
}

for (const example of EXAMPLES) {
  test(`the ${example.name} example reports a refused API key with the service's message and exits 77`, async (t) => {
    if (!installed(example.tool)) return t.skip(`${example.tool} is not installed`);
    const env = { PERMIT_URL: service.url, ...example.env };
    const unknown = await spawnWatched(t, example.command, [...example.args, uniqueResource('example-key')], {
      cwd: example.cwd,
      env: { ...env, PERMIT_API_KEY: 'lsk_not-a-key-of-this-service' },
    }).finished(EXAMPLE_TIMEOUT_MS);
    assertExited77(unknown);
    assert.match(unknown.stderr, /the service refused the API key: HTTP 401 authorization: unknown API key/);
    const outside = await spawnWatched(t, example.command, [...example.args, uniqueResource('elsewhere')], {
      cwd: example.cwd,
      env: { ...env, PERMIT_API_KEY: keys.keys.examples! },
    }).finished(EXAMPLE_TIMEOUT_MS);
    assertExited77(outside);
    assert.match(outside.stderr, /the service refused the API key: HTTP 403 resource: key "examples" may not use resource "elsewhere-/);
  });
}
