import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  SHUTDOWN_PHASES,
  http,
  processGone,
  startService,
  tempDataDir,
  waitUntilGone,
  type LogLine,
  type RunningService,
} from '../helpers/process.js';

// Every service here runs as a user runs it: `npm start` (npm → sh → tsx → node), in its own process
// group, so a signal to the group reaches npm, tsx and the service together, as Ctrl-C in a terminal
// or a process manager's SIGTERM does, and the launchers relay it once more.

const SHUTDOWN_TIMEOUT_MS = 15_000;
/** "By itself, promptly": the dev server's own SIGTERM shutdown plus its stop grace (10 s), with room for a busy machine. */
const SERVER_GONE_MS = 30_000;

function startWithNpm(t: Parameters<typeof startService>[0], dataDir: string, env: Record<string, string> = {}) {
  return startService(t, { dataDir, launcher: 'npm', env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), ...env } });
}

/** The service's own log lines (npm's banner and tsx print lines of their own). */
function serviceLines(service: RunningService): LogLine[] {
  return service.logs.filter((line) => line.pid === service.pid && typeof line.msg === 'string');
}

function describeLines(lines: LogLine[]): string {
  return lines.map((line) => JSON.stringify(line)).join('\n').slice(-4000);
}

function signalGroup(service: RunningService, signal: NodeJS.Signals): void {
  process.kill(-service.groupId, signal);
}

/**
 * Shutdown ran in full: it named the signal, every phase finished in order (a phase that hits its
 * timeout logs "timed out" instead), "stopped" came last, and neither the dev server nor its pid
 * file is left. Checked right at exit, so the server was stopped by the shutdown, not later.
 */
async function assertFullShutdown(service: RunningService, signal: NodeJS.Signals): Promise<void> {
  const exit = await service.waitForExit(SHUTDOWN_TIMEOUT_MS + 30_000);
  const lines = serviceLines(service);
  const context = `exit ${JSON.stringify(exit)}\n${describeLines(lines)}\nstderr:\n${service.stderr().slice(-2000)}`;
  assert.ok(lines.some((line) => line.msg === 'shutting down' && line.signal === signal), `no "shutting down" naming ${signal}\n${context}`);
  assert.deepEqual(
    lines.filter((line) => typeof line.phase === 'string').map((line) => `${line.msg}: ${String(line.phase)}`),
    SHUTDOWN_PHASES.map((phase) => `shutdown phase done: ${phase}`),
    context,
  );
  assert.equal(lines.at(-1)?.msg, 'stopped', context);
  // npm's own exit: its shell (sh -c "tsx src/main.ts") got the signal too, and dies of it once tsx
  // has exited, and npm then ends with the signal its script died of.
  assert.ok(exit.code === 0 || exit.signal === signal, context);
  assert.ok(processGone(service.pid), 'the service still runs');
  assert.ok(processGone(service.serverPid), `the dev server ${service.serverPid} outlived the service\n${context}`);
  assert.equal(fs.existsSync(path.join(service.dataDir, 'temporal-dev-server.pid')), false, 'the pid file was left behind');
}

test('Ctrl-C on npm start (SIGINT to its whole process group) shuts down in full and stops the dev server, round after round', { timeout: 900_000 }, async (t) => {
  const dataDir = await tempDataDir(t);
  // The issue saw the early exit in 1 of 3 tries.
  for (let round = 1; round <= 3; round++) {
    await t.test(`round ${round}`, async (roundContext) => {
      const service = await startWithNpm(roundContext, dataDir);
      signalGroup(service, 'SIGINT');
      await assertFullShutdown(service, 'SIGINT');
    });
  }
});

test('SIGTERM to the whole process group of npm start, as a process manager sends it, shuts down in full and stops the dev server', { timeout: 300_000 }, async (t) => {
  const service = await startWithNpm(t, await tempDataDir(t));
  signalGroup(service, 'SIGTERM');
  await assertFullShutdown(service, 'SIGTERM');
});

test('two SIGINTs at the service a few ms apart count as one Ctrl-C: shutdown still runs in full', { timeout: 300_000 }, async (t) => {
  const service = await startWithNpm(t, await tempDataDir(t));
  process.kill(service.pid, 'SIGINT');
  // The second goes out as soon as the service shows it handled the first: two separate deliveries
  // (two kills before the process runs would merge into one pending signal), milliseconds apart.
  const first = await service.waitForLog('"shutting down"', (line) => line.msg === 'shutting down', 30_000);
  process.kill(service.pid, 'SIGINT');
  const gapMs = Date.now() - Date.parse(String(first.time));
  await assertFullShutdown(service, 'SIGINT');
  assert.ok(
    serviceLines(service).some((line) => line.msg === 'ignoring a copy of the stop signal' && line.signal === 'SIGINT'),
    `the second SIGINT (${gapMs} ms after the first was handled) should be logged as a copy`,
  );
});

test('a second Ctrl-C after the copy window forces a quick exit, and the dev server still stops by itself', { timeout: 300_000 }, async (t) => {
  const service = await startWithNpm(t, await tempDataDir(t), {
    // A lookup of a runId nobody granted stays in flight this long, and shutdown waits for it.
    VISIBILITY_LOOKUP_WAIT_MS: '60000',
    SHUTDOWN_TIMEOUT_MS: '60000',
  });
  const lookupId = `lookup-${randomUUID()}`;
  const lookup = http('GET', `${service.url}/permits/${randomUUID()}`, undefined, { timeoutMs: 90_000, headers: { 'x-request-id': lookupId } })
    .catch((error: unknown) => error as Error);
  await service.waitForLog(`request ${lookupId} to arrive`, (line) => line.msg === 'incoming request' && line.reqId === lookupId, 30_000);

  signalGroup(service, 'SIGINT');
  const shuttingDown = await service.waitForLog('"shutting down"', (line) => line.msg === 'shutting down', 30_000);
  await service.waitForLog('shutdown waiting for the request in flight', (line) => line.phase === 'stop waiting acquires and background calls', 30_000);
  // A repeat counts as "pressed again" only once the copy window the service announced has passed;
  // this waits out that window itself, the behaviour under test (a service without one announces none).
  const windowMs = Number(shuttingDown.copiesWithinMs ?? 0);
  const pressAgainAt = Date.parse(String(shuttingDown.time)) + windowMs + 250;
  await delay(Math.max(0, pressAgainAt - Date.now()));
  assert.ok(!serviceLines(service).some((line) => line.msg === 'stopped'), 'precondition: shutdown is still waiting for the request in flight');

  const pressedAgain = performance.now();
  signalGroup(service, 'SIGINT');
  const exit = await service.waitForExit(30_000);
  const exitMs = performance.now() - pressedAgain;
  const context = `exit ${JSON.stringify(exit)}\n${describeLines(serviceLines(service))}\nstderr:\n${service.stderr().slice(-2000)}`;
  // Proves "at once", not "after the in-flight request or the 60 s shutdown timeout".
  assert.ok(exitMs < 10_000, `the forced exit took ${Math.round(exitMs)} ms\n${context}`);
  assert.ok(processGone(service.pid), 'the service still runs');
  assert.ok(!serviceLines(service).some((line) => line.msg === 'stopped'), `shutdown should not have finished\n${context}`);
  assert.ok(await waitUntilGone(service.serverPid, SERVER_GONE_MS), `the dev server ${service.serverPid} outlived a forced exit\n${context}`);
  assert.ok(
    serviceLines(service).some((line) => line.msg === 'stop signal again: exiting without finishing shutdown' && line.signal === 'SIGINT'),
    `the forced exit should say so\n${context}`,
  );
  await lookup;
});

test('SIGKILL of the service process alone: the dev server goes away by itself', { timeout: 300_000 }, async (t) => {
  const service = await startWithNpm(t, await tempDataDir(t));
  process.kill(service.pid, 'SIGKILL');
  assert.ok(await waitUntilGone(service.pid, 10_000), 'the service survived SIGKILL');
  assert.ok(await waitUntilGone(service.serverPid, SERVER_GONE_MS), `the dev server ${service.serverPid} outlived a SIGKILLed service`);
  if (service.supervisorPid !== undefined) {
    assert.ok(await waitUntilGone(service.supervisorPid, SERVER_GONE_MS), 'the supervisor outlived its server');
  }
});
