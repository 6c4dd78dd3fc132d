// `npm run fuzz`: schemathesis against the served /openapi.json of a real service with API keys,
// on a Temporal dev server of its own. It fails on any 5xx and on any answer that does not match the
// documented schema (status code, content type, headers, body). CI runs it (.ci/run), bounded in time.
//
//   npm run fuzz -- [--max-time SECONDS] [--st PATH]   (default 100 s; PATH: the `st` of a schemathesis install)
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateKey } from '../src/auth/api-keys.js';
import { loadConfig } from '../src/config.js';
import { startLockService } from '../src/lock-service.js';
import { createLogger } from '../src/logger.js';
import { startDevServer } from '../src/temporal/dev-server.js';
import { provisionTemporalCli } from '../src/temporal/provision-cli.js';
import { freePort } from '../test/helpers/process.js';

const { values } = parseArgs({
  options: { 'max-time': { type: 'string', default: '100' }, st: { type: 'string', default: '.venv-ci/bin/st' } },
});

const log = createLogger(process.env.FUZZ_LOG_LEVEL ?? 'warn');
const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-fuzz-'));
const admin = generateKey();
const client = generateKey();
const keysFile = path.join(workDir, 'api-keys.json');
await fs.writeFile(
  keysFile,
  JSON.stringify([
    { name: 'fuzz-admin', role: 'admin', sha256: admin.sha256 },
    { name: 'fuzz-client', role: 'client', prefixes: ['*'], sha256: client.sha256 },
  ]),
);

const base = loadConfig({ ...process.env, TEMPORAL_ADDRESS: '' });
const cliPath = await provisionTemporalCli({ ...base.devServer, log });
const server = await startDevServer({
  cliPath,
  dataDir: path.join(workDir, 'temporal'),
  port: await freePort(),
  uiPort: 0,
  namespace: 'default',
  readyTimeoutMs: base.devServer.readyTimeoutMs,
  log,
});

let exitCode: number;
try {
  const config = loadConfig({
    TEMPORAL_ADDRESS: server.address,
    PORT: '0',
    API_KEYS_FILE: keysFile,
    LOG_LEVEL: process.env.FUZZ_LOG_LEVEL ?? 'warn',
    // Short waits and lookups: generated requests are answered within moments, never after minutes.
    MAX_WAIT_MS: '1000',
    VISIBILITY_LOOKUP_WAIT_MS: '200',
  });
  const service = await startLockService(config, log, { listen: true });
  try {
    // The admin key reaches every operation; each one's answers are checked against the document.
    const st = spawn(
      values.st!,
      [
        'run',
        `${service.url}/openapi.json`,
        '--header',
        `Authorization: Bearer ${admin.key}`,
        '--checks',
        'not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance',
        '--max-time',
        values['max-time']!,
        // One worker: hypothesis's lambda descriptions are not thread-safe, and two workers once failed
        // inside schemathesis ("AST constructor recursion depth mismatch"), not in the service.
        '--workers',
        '1',
        '--request-timeout',
        '15',
        '--output-sanitize',
        'true',
      ],
      { stdio: 'inherit', env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' } },
    );
    exitCode = await new Promise<number>((resolve) => st.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    await service.stop();
  }
} finally {
  await server.stop();
  await fs.rm(workDir, { recursive: true, force: true });
}
process.exit(exitCode);
