import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { testTemporalAddress } from '../helpers/service.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runDemoProcess(env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    // SIGTERM on timeout lets the demo release what it holds and stop its service.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/demo.ts'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test('npm run demo: 8 consumers over HTTP and workflows share capacity 3, never more than 3 at once', { timeout: 200_000 }, async () => {
  const run = await runDemoProcess(
    {
      TEMPORAL_ADDRESS: testTemporalAddress(),
      TEMPORAL_TASK_QUEUE: `demo-test-${randomUUID()}`,
      PORT: '0',
      LOG_LEVEL: 'warn',
    },
    180_000,
  );
  const explain = `exit ${run.code ?? run.signal}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
  assert.equal(run.code, 0, explain);
  assert.match(run.stdout, /^ {2}consumers served: 8\/8 /m, explain);
  assert.match(run.stdout, /^PASS: /m, explain);

  const maxHolders = Number(/max concurrent holders observed: (\d+) \(capacity 3\)/.exec(run.stdout)?.[1]);
  assert.ok(maxHolders <= 3, explain);
  // Fewer than 2 at once would mean the consumers never overlapped, and the bound proved nothing.
  assert.ok(maxHolders >= 2, explain);

  // Every consumer of both kinds shows up in the timeline once as acquired and once as released.
  for (const kind of ['http', 'workflow']) {
    for (let n = 1; n <= 4; n++) {
      for (const event of ['acquired', 'released']) {
        const line = new RegExp(`^ +\\d+\\.\\d{3}s  ${event} +${kind}-consumer-${n} +${kind} +[0-2] `, 'gm');
        assert.equal(run.stdout.match(line)?.length, 1, `${event} ${kind}-consumer-${n}\n${explain}`);
      }
    }
  }
  assert.match(run.stdout, /^Stopped\.$/m, explain);
});
