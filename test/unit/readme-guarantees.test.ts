import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/process.js';

// Each promise in the README's Guarantees section names the tests that prove it; a renamed or
// deleted test must not leave a promise pointing at nothing.

/** Test files under test/, by base name. */
async function testFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await fs.readdir(path.join(REPO_ROOT, 'test'), { recursive: true })) {
    if (entry.endsWith('.test.ts')) files.set(path.basename(entry), path.join(REPO_ROOT, 'test', entry));
  }
  return files;
}

test('every test the README\'s Guarantees section names exists, in the file it names', async () => {
  const readme = await fs.readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Guarantees');
  assert.ok(start >= 0, 'the README has a Guarantees section');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const bullets = section.split(/\n- /).slice(1).map((bullet) => bullet.replace(/\s*\n\s*/g, ' '));
  const files = await testFiles();
  let checked = 0;
  for (const bullet of bullets) {
    const named = [...bullet.matchAll(/`([\w.-]+\.test\.ts)`/g)].map((match) => match[1]!);
    const titles = [...bullet.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
    assert.ok(named.length > 0 && titles.length > 0, `a guarantee names no test: ${bullet.slice(0, 80)}`);
    const sources = await Promise.all(
      named.map(async (name) => {
        const file = files.get(name);
        assert.ok(file, `the README names ${name}, which does not exist`);
        return (await fs.readFile(file, 'utf8')).replaceAll("\\'", "'");
      }),
    );
    for (const title of titles) {
      assert.ok(sources.some((source) => source.includes(`'${title}'`) || source.includes(`"${title}"`)), `no test "${title}" in ${named.join(', ')}`);
      checked++;
    }
  }
  assert.ok(checked >= 20, `only ${checked} tests named`);
});
