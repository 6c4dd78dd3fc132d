import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { childCommand, readJournal, waitForJournal } from '../helpers/child-command.js';
import { runCli, scratchDir, spawnCli } from '../helpers/cli.js';
import { startListeningService, type ListeningService } from '../helpers/listening-service.js';
import { http, waitUntilGone } from '../helpers/process.js';
import { uniqueResource } from '../helpers/service.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

// `permit run` end to end: the real CLI process runs a real command (a node script that journals
// what happens to it) against a listening service on a real Temporal server.

const EXIT_LOST = 76;
const EXIT_BUSY = 75;

let service: ListeningService;
before(async () => {
  service = await startListeningService(undefined);
});
after(() => service?.stop());

const env = () => ({ PERMIT_URL: service.url });

async function holders(resource: string): Promise<Array<{ runId: string }>> {
  const answer = await http('GET', `${service.url}/resources/${resource}?capacity=1`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.held;
}

test('run gives the command the permit in its environment and exits with its exit code, releasing the slot', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-exit');
  for (const exitCode of [0, 3]) {
    const journal = path.join(dir, `child-${exitCode}.jsonl`);
    const result = await runCli(t, ['run', resource, '--', ...childCommand(journal, { exitCode, holdMs: 200 })], env());
    assert.equal(result.code, exitCode, result.stderr);

    const started = (await readJournal(journal)).find((entry) => entry.event === 'started')!;
    const permitEnv = started.env!;
    assert.match(permitEnv.PERMIT_RUN_ID ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(permitEnv.PERMIT_FENCING_TOKEN, permitEnv.PERMIT_RUN_ID);
    assert.equal(permitEnv.PERMIT_SLOT, '0');
    assert.equal(permitEnv.PERMIT_RESOURCE, resource);
    assert.equal(permitEnv.PERMIT_URL, service.url);

    const ended = await http('GET', `${service.url}/permits/${permitEnv.PERMIT_RUN_ID}`);
    assert.equal(ended.status, 410, 'the permit was released when the command exited');
    assert.equal(ended.body.state, 'released');
    assert.deepEqual(await holders(resource), []);
  }
});

test('SIGTERM sent to run reaches the command; run waits for it, releases, and exits with its code', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-sigterm');
  const journal = path.join(dir, 'child.jsonl');
  const cli = spawnCli(t, ['run', resource, '--', ...childCommand(journal, { onSignal: 'exit', signalExitCode: 0 })], env());
  await waitForJournal(journal, (entry) => entry.event === 'started');
  assert.equal((await holders(resource)).length, 1);

  process.kill(cli.pid, 'SIGTERM');
  const result = await cli.exited;
  assert.equal(result.code, 0, `run exits with the command's code\n${result.stderr}`);
  assert.ok((await readJournal(journal)).some((entry) => entry.event === 'signal' && entry.signal === 'SIGTERM'));
  assert.deepEqual(await holders(resource), []);
});

test('a command killed by the SIGINT that run passed on makes run exit 130, and the slot is released', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-sigint');
  const journal = path.join(dir, 'child.jsonl');
  const cli = spawnCli(t, ['run', resource, '--', ...childCommand(journal)], env());
  await waitForJournal(journal, (entry) => entry.event === 'started');

  process.kill(cli.pid, 'SIGINT');
  const result = await cli.exited;
  assert.equal(result.code, 130, result.stderr);
  assert.deepEqual(await holders(resource), []);
});

test('a permit released out from under run: the command gets SIGTERM and run exits with the lost code', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-lost');
  const journal = path.join(dir, 'child.jsonl');
  const cli = spawnCli(
    t,
    ['run', resource, '--lease', '2s', '--', ...childCommand(journal, { onSignal: 'exit', signalExitCode: 0 })],
    env(),
  );
  const started = await waitForJournal(journal, (entry) => entry.event === 'started');
  const released = await http('DELETE', `${service.url}/permits/${started.env!.PERMIT_RUN_ID}`);
  assert.equal(released.status, 204);

  const result = await cli.exited;
  assert.equal(result.code, EXIT_LOST, result.stderr);
  assert.match(result.stderr, /is lost: the service says it has ended \(released\)/);
  assert.ok((await readJournal(journal)).some((entry) => entry.event === 'signal' && entry.signal === 'SIGTERM'));
});

test('a command that ignores SIGTERM after its permit is lost gets SIGKILL after --kill-grace', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-kill');
  const journal = path.join(dir, 'child.jsonl');
  const cli = spawnCli(
    t,
    ['run', resource, '--lease', '2s', '--kill-grace', '1s', '--', ...childCommand(journal, { onSignal: 'ignore' })],
    env(),
  );
  const started = await waitForJournal(journal, (entry) => entry.event === 'started');
  assert.equal((await http('DELETE', `${service.url}/permits/${started.env!.PERMIT_RUN_ID}`)).status, 204);

  const result = await cli.exited;
  assert.equal(result.code, EXIT_LOST, result.stderr);
  assert.match(result.stderr, /did not stop within 1s; sending SIGKILL/);
  const entries = await readJournal(journal);
  assert.ok(entries.some((entry) => entry.event === 'signal' && entry.signal === 'SIGTERM'), 'SIGTERM came first');
  assert.ok(!entries.some((entry) => entry.event === 'exit'), 'the command did not exit on its own');
  assert.ok(await waitUntilGone(started.pid, 5_000), 'the command is gone');
});

test('renewals that keep failing until the lease would run out count as lost: the command is stopped', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-cut');
  const journal = path.join(dir, 'child.jsonl');
  const proxy = await startTcpProxy(t, service.url);
  const cli = spawnCli(
    t,
    ['run', resource, '--lease', '3s', '--', ...childCommand(journal, { onSignal: 'exit', signalExitCode: 0 })],
    { PERMIT_URL: proxy.url },
  );
  await waitForJournal(journal, (entry) => entry.event === 'started');
  await proxy.cut();

  const result = await cli.exited;
  assert.equal(result.code, EXIT_LOST, result.stderr);
  assert.match(result.stderr, /renewal failed/);
  assert.match(result.stderr, /no renewal succeeded before the lease would run out/);
  assert.match(result.stderr, /could not release/, 'the release could not get through either, and says so');
  assert.ok((await readJournal(journal)).some((entry) => entry.event === 'signal' && entry.signal === 'SIGTERM'));
  // The service was never told; the lease ends the permit on its own.
  const deadline = Date.now() + 15_000;
  while ((await holders(resource)).length > 0) {
    assert.ok(Date.now() < deadline, 'the lease ran out and freed the slot');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

test('when the service refuses renewals past MAX_RENEWALS, the command gets SIGTERM before the lease ends and run exits with the lost code', async (t) => {
  const limited = await startListeningService(t, { MAX_RENEWALS: '1' });
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-renewal-limit');
  const journal = path.join(dir, 'child.jsonl');
  const result = await runCli(
    t,
    ['run', resource, '--lease', '3s', '--', ...childCommand(journal, { onSignal: 'exit', signalExitCode: 0 })],
    { PERMIT_URL: limited.url },
  );
  assert.equal(result.code, EXIT_LOST, result.stderr);
  assert.match(result.stderr, /renewal refused \(renewal_limit: this permit has been renewed 1 time,/);
  assert.match(result.stderr, /is lost: the service refuses renewals/);
  const entries = await readJournal(journal);
  const started = entries.find((entry) => entry.event === 'started')!;
  const sigterm = entries.find((entry) => entry.event === 'signal' && entry.signal === 'SIGTERM');
  assert.ok(sigterm, `the command got SIGTERM: ${JSON.stringify(entries)}`);
  const [workflowId, runId] = [`permit:${resource}:0`, started.env!.PERMIT_RUN_ID!];
  const { memo } = await limited.client.workflow.getHandle(workflowId, runId).describe();
  const leaseEndMs = Date.parse(String(memo?.expiresAt));
  assert.ok(sigterm.at < leaseEndMs, `SIGTERM came ${sigterm.at - leaseEndMs} ms after the lease ended`);
});

test('a command that cannot be found makes run exit 127 and leaves no slot taken', async (t) => {
  const resource = uniqueResource('cli-enoent');
  const result = await runCli(t, ['run', resource, '--', '/nonexistent/permit-test-command', 'arg'], env());
  assert.equal(result.code, 127, result.stderr);
  assert.match(result.stderr, /cannot run \/nonexistent\/permit-test-command: command not found/);
  assert.deepEqual(await holders(resource), []);
});

test('two runs on a capacity-1 resource take turns: their commands never overlap', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-turns');
  const journals = [path.join(dir, 'a.jsonl'), path.join(dir, 'b.jsonl')];
  const clis = journals.map((journal) =>
    spawnCli(t, ['run', resource, '--wait', '60s', '--', ...childCommand(journal, { holdMs: 1_500 })], env()),
  );
  const results = await Promise.all(clis.map((cli) => cli.exited));
  for (const result of results) assert.equal(result.code, 0, result.stderr);

  const spans = await Promise.all(
    journals.map(async (journal) => {
      const entries = await readJournal(journal);
      const start = entries.find((entry) => entry.event === 'started')!;
      const end = entries.find((entry) => entry.event === 'exit')!;
      return { from: start.at, to: end.at, token: start.env!.PERMIT_RUN_ID };
    }),
  );
  const [first, second] = spans.sort((a, b) => a.from - b.from) as [(typeof spans)[0], (typeof spans)[0]];
  assert.notEqual(first.token, second.token);
  assert.ok(first.to <= second.from, `the second command started at ${second.from}, before the first ended at ${first.to}`);
  assert.deepEqual(await holders(resource), []);
});

test('run --no-wait on a held resource exits with the busy code and runs nothing', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-busy');
  const held = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);
  const journal = path.join(dir, 'child.jsonl');

  const result = await runCli(t, ['run', resource, '-n', '--', ...childCommand(journal)], env());
  assert.equal(result.code, EXIT_BUSY, result.stderr);
  assert.match(result.stderr, /resource_busy/);
  assert.deepEqual(await readJournal(journal), [], 'the command never ran');
  assert.deepEqual((await holders(resource)).map((permit) => permit.runId), [held.body.runId]);
});

test('SIGINT while run waits for a permit ends the wait: nothing runs and no slot is taken later', async (t) => {
  const dir = await scratchDir(t);
  const resource = uniqueResource('cli-wait-int');
  const held = await http('POST', `${service.url}/resources/${resource}/acquire`, { leaseMs: 30_000 });
  assert.equal(held.status, 201);
  const journal = path.join(dir, 'child.jsonl');

  const cli = spawnCli(t, ['run', resource, '--verbose', '--', ...childCommand(journal)], env());
  await cli.waitForStderr(/waiting as long as it takes/);
  await new Promise((resolve) => setTimeout(resolve, 300)); // let the acquire request reach the service
  process.kill(cli.pid, 'SIGINT');
  const result = await cli.exited;
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stderr, /interrupted by SIGINT while waiting/);

  // Free the slot: a wait the service had not abandoned would now take it.
  assert.equal((await http('DELETE', `${service.url}/permits/${held.body.runId}`)).status, 204);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.deepEqual(await holders(resource), []);
  assert.deepEqual(await readJournal(journal), [], 'the command never ran');
});
