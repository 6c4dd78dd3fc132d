import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/process.js';

// The client package is what people install: its tarball must work on its own, in a directory
// that has nothing of this repository, and bring neither Temporal nor Fastify along.

/** The environment without npm's own variables from the `npm test` that runs this file. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 240_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} in ${cwd}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Every installed package's name under node_modules (scoped ones as @scope/name). */
async function installedPackages(nodeModules: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await fs.readdir(nodeModules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const scoped of await fs.readdir(path.join(nodeModules, entry))) names.push(`${entry}/${scoped}`);
    else names.push(entry);
  }
  return names.sort();
}

test('npm pack of the client package gives a tarball that installs in an empty directory, runs permit --help and loads the client, pulling only zod', async (t) => {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'client-package-'));
  t.after(() => fs.rm(workDir, { recursive: true, force: true }));
  const packDir = path.join(workDir, 'pack');
  const appDir = path.join(workDir, 'app');
  await fs.mkdir(packDir);
  await fs.mkdir(appDir);
  // A project of its own, as `npm init` makes: without it npm installs into the nearest directory
  // above that has a package.json, which under /tmp may be anyone's.
  await fs.writeFile(path.join(appDir, 'package.json'), JSON.stringify({ name: 'empty-app', private: true }));

  // prepack builds the package's dist/ first.
  run('npm', ['pack', '--workspace', 'temporal-lock-client', '--pack-destination', packDir, '--silent'], REPO_ROOT);
  const [tarball, ...others] = await fs.readdir(packDir);
  assert.ok(tarball?.endsWith('.tgz') && others.length === 0, `one tarball: ${[tarball, ...others].join(', ')}`);

  run('npm', ['install', '--prefix', appDir, '--no-audit', '--no-fund', '--prefer-offline', path.join(packDir, tarball)], appDir);
  const packages = await installedPackages(path.join(appDir, 'node_modules'));
  assert.deepEqual(packages, ['temporal-lock-client', 'zod'], `installed: ${packages.join(', ')}`);

  const help = run(path.join(appDir, 'node_modules', '.bin', 'permit'), ['--help'], appDir);
  assert.match(help, /^Usage: permit <command>/m);

  const loaded = run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "const client = await import('temporal-lock-client'); const wire = await import('temporal-lock-client/wire');" +
        "console.log(typeof client.LockClient, typeof client.withPermit, typeof wire.PermitSchema.parse);",
    ],
    appDir,
  );
  assert.equal(loaded.trim(), 'function function function');
});
