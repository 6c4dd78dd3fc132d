import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { loadScenarios, startConformanceHarness } from '../helpers/conformance-harness.js';
import { REPO_ROOT } from '../helpers/process.js';
import { spawnWatched } from '../helpers/watched-process.js';

// The Python client (clients/python) is tested by its own pytest suite, the shared conformance
// scenarios included, against a live service behind a fault proxy that the scenarios steer.

const PYTEST_TIMEOUT_MS = 300_000;

test('the Python client passes its pytest suite and every conformance scenario, blocking and asyncio, against a live service', async (t) => {
  // Installs the client as a user would (a wheel built from clients/python) into .venv, with pytest and mypy.
  const setup = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'setup-python-client.sh')], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(setup.status, 0, `scripts/setup-python-client.sh failed:\n${setup.stdout}\n${setup.stderr}`);

  const harness = await startConformanceHarness(t);
  const pytest = spawnWatched(t, path.join(REPO_ROOT, '.venv', 'bin', 'python'), ['-m', 'pytest', 'clients/python', '-rs', '-p', 'no:cacheprovider'], {
    env: harness.env,
  });
  const result = await pytest.finished(PYTEST_TIMEOUT_MS);
  const output = `${result.stdout}\n${result.stderr}`;
  assert.equal(result.code, 0, output);

  // Nothing may be skipped: every scenario ran and passed, blocking and asyncio.
  const scenarios = await loadScenarios();
  assert.doesNotMatch(result.stdout, /^SKIPPED /m, output);
  const passed = Number(/(\d+) passed/.exec(result.stdout)?.[1] ?? 0);
  assert.ok(passed >= scenarios.length * 2, `only ${passed} passed:\n${output}`);
  t.diagnostic(`pytest: ${result.stdout.trim().split('\n').at(-1)}`);
});
