// `npm test`: starts one real Temporal dev server (provisioned like `npm start` does), bundles the
// workflow code once (or takes it from the bundle cache), then runs every test file against them with node's test runner.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startDevServer } from '../src/temporal/dev-server.js';
import { provisionTemporalCli } from '../src/temporal/provision-cli.js';
import { defaultBundleCacheDir, loadWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { freePort } from './helpers/process.js';

async function testFiles(args: string[]): Promise<string[]> {
  if (args.length > 0) return args;
  const entries = await fs.readdir('test', { recursive: true });
  return entries
    .filter((entry) => entry.endsWith('.test.ts'))
    .map((entry) => path.join('test', entry))
    .sort();
}

const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'info');
const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: '' });
const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-test-'));
const cliPath = await provisionTemporalCli({ ...config.devServer, log });
const server = await startDevServer({
  cliPath,
  dataDir: path.join(workDir, 'temporal'),
  port: await freePort(),
  uiPort: 0,
  namespace: 'default',
  readyTimeoutMs: config.devServer.readyTimeoutMs,
  log,
});

let exitCode: number;
try {
  // The services the tests start take this file instead of bundling (or reading the cache) each time.
  const loaded = await loadWorkflowBundle(log, { withExamples: true, cacheDir: config.workflowBundleDir ?? defaultBundleCacheDir() });
  // A copy of its own: the cache may prune its file while the tests run.
  const bundlePath = path.join(workDir, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, loaded.bundle.code);
  const files = await testFiles(process.argv.slice(2));
  log.info({ files: files.length, temporal: server.address }, 'running tests');
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
    stdio: 'inherit',
    env: {
      ...process.env,
      TEMPORAL_TEST_ADDRESS: server.address,
      TEMPORAL_TEST_CLI: cliPath,
      LOCK_TEST_WORKFLOW_BUNDLE: bundlePath,
    },
  });
  exitCode = await new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
} finally {
  await server.stop();
  await fs.rm(workDir, { recursive: true, force: true });
}
process.exit(exitCode);
