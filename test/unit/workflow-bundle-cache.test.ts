import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { workflowsPath } from '../../src/temporal/worker.js';
import { loadWorkflowBundle, workflowBundleKey } from '../../src/temporal/workflow-bundle.js';
import { REPO_ROOT } from '../helpers/process.js';

/** A logger at debug (so the SDK's "Workflow bundle created" shows when bundling happens) whose lines the test reads. */
function capturingLogger(): { log: pino.Logger; lines: () => Array<{ msg: string; cache?: string; bundleKey?: string }> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines: () => lines.map((line) => JSON.parse(line)) };
}

/**
 * A scratch workflow tree inside the repository (the bundler finds @temporalio/workflow in its
 * node_modules from there), under test/artifacts, which git ignores.
 */
async function scratchWorkflows(t: TestContext, files: Record<string, string>): Promise<string> {
  await fs.mkdir(path.join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
  const dir = await fs.mkdtemp(path.join(REPO_ROOT, 'test', 'artifacts', 'bundle-cache-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text);
  return dir;
}

const greeting = (word: string) => `export const GREETING = '${word}';\n`;
const WORKFLOWS = {
  'index.ts': "export { greetWorkflow } from './greet.js';\n",
  'greet.ts': "import { sleep } from '@temporalio/workflow';\nimport { GREETING } from './greeting.js';\n\nexport async function greetWorkflow(): Promise<string> {\n  await sleep(1);\n  return GREETING;\n}\n",
  'greeting.ts': greeting('hello-first'),
};

test('a second load takes the cached bundle without bundling, and a changed workflow source is bundled again', { timeout: 180_000 }, async (t) => {
  const dir = await scratchWorkflows(t, WORKFLOWS);
  const cacheDir = path.join(dir, 'cache');
  const entry = path.join(dir, 'index.ts');

  const first = capturingLogger();
  const made = await loadWorkflowBundle(first.log, { workflowsPath: entry, cacheDir });
  assert.equal(made.cache, 'miss');
  assert.ok(made.file?.startsWith(cacheDir), 'the bundle is written into the cache dir');
  assert.match(made.bundle.code, /hello-first/);
  assert.ok(first.lines().some((line) => line.msg === 'Workflow bundle created'), 'the first load bundles');

  const second = capturingLogger();
  const cached = await loadWorkflowBundle(second.log, { workflowsPath: entry, cacheDir });
  assert.equal(cached.cache, 'hit');
  assert.equal(cached.key, made.key);
  assert.equal(cached.bundle.code, made.bundle.code);
  assert.ok(!second.lines().some((line) => line.msg === 'Workflow bundle created'), 'the second load does not bundle');
  assert.ok(second.lines().some((line) => line.cache === 'hit' && line.bundleKey === made.key), 'the second load says it hit the cache');

  // greeting.ts is imported by greet.ts, not by the entry point: the key follows imports.
  await fs.writeFile(path.join(dir, 'greeting.ts'), greeting('hello-second'));
  const third = capturingLogger();
  const remade = await loadWorkflowBundle(third.log, { workflowsPath: entry, cacheDir });
  assert.equal(remade.cache, 'miss');
  assert.notEqual(remade.key, made.key);
  assert.match(remade.bundle.code, /hello-second/);
  assert.doesNotMatch(remade.bundle.code, /hello-first/);
  assert.ok(third.lines().some((line) => line.msg === 'Workflow bundle created'), 'a changed source is bundled again');
});

test('a bundle that read a source its key does not follow is not cached', { timeout: 180_000 }, async (t) => {
  // A require() is not followed by the key's import scan, but webpack bundles what it names.
  const dir = await scratchWorkflows(t, {
    ...WORKFLOWS,
    'index.ts': "export { greetWorkflow } from './greet.js';\ndeclare const require: (id: string) => unknown;\nexport const extra = require('./extra.js');\n",
    'extra.ts': "export const EXTRA = 'hidden';\n",
  });
  const cacheDir = path.join(dir, 'cache');
  const { log, lines } = capturingLogger();
  const loaded = await loadWorkflowBundle(log, { workflowsPath: path.join(dir, 'index.ts'), cacheDir });
  assert.equal(loaded.cache, 'off');
  assert.equal(loaded.file, undefined);
  assert.match(loaded.bundle.code, /hidden/, 'the bundle itself is still usable');
  const warning = lines().find((line) => line.msg.startsWith('workflow bundle not cached')) as { unfollowed?: string[] } | undefined;
  assert.deepEqual(warning?.unfollowed, [path.join(dir, 'extra.ts')]);
  assert.deepEqual(await fs.readdir(cacheDir).catch(() => []), []);
});

test('the production bundle key covers the permit workflow and the modules it imports, and the SDK versions', async () => {
  const production = await workflowBundleKey(workflowsPath());
  const names = production.sources.map((file) => path.relative(path.join(REPO_ROOT, 'src', 'temporal'), file));
  assert.deepEqual(names.slice(0, 3), [path.join('workflows', 'index.ts'), path.join('workflows', 'permit.ts'), 'messages.ts']);
  assert.ok(names.includes(path.join('..', '..', 'package.json')), 'the package.json above the sources counts');
  assert.ok(production.packages['@temporalio/workflow'] && production.packages['@temporalio/worker']);

  const withExamples = await workflowBundleKey(workflowsPath({ withExamples: true }));
  assert.notEqual(withExamples.key, production.key);
  for (const file of ['semaphore.ts', 'example-consumer.ts']) {
    assert.ok(withExamples.sources.some((source) => source.endsWith(file)), `${file} is followed`);
  }
  assert.ok(withExamples.sources.some((source) => source.endsWith('permit-id.ts')));
});
