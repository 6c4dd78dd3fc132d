import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSupervised, type SupervisedProcess } from '../../src/temporal/supervised-process.js';
import { processGone, processGroupMembers, waitUntilGone } from '../helpers/process.js';

// Real processes under the real sh supervisor; the program is `sleep`, which SIGTERM ends.

function exitOf(supervised: SupervisedProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { supervisor } = supervised;
  if (supervisor.exitCode !== null || supervisor.signalCode !== null) {
    return Promise.resolve({ code: supervisor.exitCode, signal: supervisor.signalCode });
  }
  return new Promise((resolve) => supervisor.once('exit', (code, signal) => resolve({ code, signal })));
}

function killGroupAfter(t: { after(fn: () => void): void }, supervised: SupervisedProcess): void {
  t.after(() => {
    try {
      process.kill(-supervised.supervisorPid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
}

test('stop() ends the program and leaves nothing in its process group', async (t) => {
  const supervised = await spawnSupervised('sleep', ['1000'], { graceMs: 10_000 });
  killGroupAfter(t, supervised);
  assert.equal(processGone(supervised.pid), false, 'the program runs');
  await supervised.stop();
  assert.ok(processGone(supervised.pid), 'the program still runs');
  // The watcher's escalation timer (`sleep 10`) would otherwise linger in the group for 10 s. A
  // SIGKILLed orphan is a zombie until PID 1 reaps it, and a zombie no longer runs.
  const running = () => processGroupMembers(supervised.supervisorPid).filter((pid) => !processGone(pid));
  for (const pid of running()) assert.ok(await waitUntilGone(pid, 5_000), `process ${pid} still runs in the group`);
  assert.deepEqual(running(), []);
});

test('the supervisor exits with the status of a program that ends by itself', async (t) => {
  const supervised = await spawnSupervised('sh', ['-c', 'exit 3'], { graceMs: 10_000 });
  killGroupAfter(t, supervised);
  assert.deepEqual(await exitOf(supervised), { code: 3, signal: null });
});

test('SIGTERM to the supervisor is passed to the program, and the supervisor exits once the program has', async (t) => {
  const supervised = await spawnSupervised('sleep', ['1000'], { graceMs: 10_000 });
  killGroupAfter(t, supervised);
  supervised.supervisor.kill('SIGTERM');
  // sleep dies of the SIGTERM; the supervisor reports it as a shell does, 128 + 15.
  assert.deepEqual(await exitOf(supervised), { code: 143, signal: null });
  assert.ok(processGone(supervised.pid), 'the program outlived its supervisor');
});

test('stop() still ends a program whose supervisor was killed', async (t) => {
  const supervised = await spawnSupervised('sleep', ['1000'], { graceMs: 10_000 });
  killGroupAfter(t, supervised);
  for (const pid of processGroupMembers(supervised.supervisorPid)) {
    if (pid !== supervised.pid) process.kill(pid, 'SIGKILL');
  }
  await exitOf(supervised);
  assert.equal(processGone(supervised.pid), false, 'precondition: the program outlives its supervisor and the watcher');
  await supervised.stop();
  assert.ok(await waitUntilGone(supervised.pid, 5_000), 'the orphaned program still runs');
});
