import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { loadScenarios, startConformanceHarness } from '../helpers/conformance-harness.js';
import { REPO_ROOT } from '../helpers/process.js';
import { spawnWatched } from '../helpers/watched-process.js';

// The Go client (clients/go) is tested by its own `go test`, the shared conformance scenarios
// included, against a live service behind a fault proxy that the scenarios steer.

const GO_DIR = path.join(REPO_ROOT, 'clients', 'go');
/** The standard library only: never download a toolchain or a module. */
const GO_ENV = { GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '-mod=mod' };
/** The first build compiles net/http and the test binary; a busy machine needs a while. */
const GO_TIMEOUT_MS = 300_000;

test('the Go client is go vet clean and passes its go test suite and every conformance scenario against a live service', async (t) => {
  const vet = spawnSync('go', ['vet', './...'], { cwd: GO_DIR, env: { ...process.env, ...GO_ENV }, encoding: 'utf8', timeout: GO_TIMEOUT_MS });
  assert.ok(!vet.error, `cannot run go (Go 1.21 or newer is needed; .ci/run installs it): ${vet.error?.message}`);
  assert.equal(vet.status, 0, `go vet:\n${vet.stdout}\n${vet.stderr}`);

  const harness = await startConformanceHarness(t);
  const goTest = spawnWatched(t, 'go', ['test', '-count=1', '-v', './...'], { cwd: GO_DIR, env: { ...GO_ENV, ...harness.env } });
  const result = await goTest.finished(GO_TIMEOUT_MS);
  const output = `${result.stdout}\n${result.stderr}`;
  assert.equal(result.code, 0, output);

  // Nothing may be skipped: every scenario ran and passed.
  const scenarios = await loadScenarios();
  assert.doesNotMatch(result.stdout, /^\s*--- SKIP: /m, output);
  const passedScenarios = [...result.stdout.matchAll(/^\s*--- PASS: TestConformance\//gm)].length;
  assert.equal(passedScenarios, scenarios.length, output);
  const passed = [...result.stdout.matchAll(/^\s*--- PASS: /gm)].length;
  t.diagnostic(`go test: ${passed} passed (${passedScenarios} conformance scenarios), none skipped`);
});
