import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Permit } from '../../src/permits/permit.js';
import { WaitQueue, type PassReason, type WaitQueueHost } from '../../src/permits/wait-queue.js';

// The queue's own rules (order, deadlines, hand-back of a permit nobody can take) with a scripted
// host; the real host, over Temporal, is exercised end to end in test/e2e/wait-queue.test.ts.

function permit(runId: string): Permit {
  return {
    runId,
    fencingToken: runId,
    workflowId: 'permit:r:0',
    resource: 'r',
    slot: 0,
    capacity: 1,
    leaseMs: 1_000,
    holder: null,
    acquiredAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 1_000).toISOString(),
  };
}

/** A host whose passes find a slot only when the test hands one out. */
function scriptedHost() {
  const grants: Array<(permit: Permit | undefined) => void> = [];
  const reasons: PassReason[] = [];
  const discarded: Permit[] = [];
  let freed = false;
  let leaseEndCheckAt: number | undefined;
  const host: WaitQueueHost = {
    attempt: (_request, reason) => {
      reasons.push(reason);
      return new Promise((resolve) => grants.push(resolve));
    },
    hasFreedSlots: () => freed,
    nextLeaseEndCheckAt: () => leaseEndCheckAt,
    discard: (given) => discarded.push(given),
    slotsToWatch: () => [],
    watchSlot: () => undefined,
    slotFreed: () => {},
  };
  const nextPass = async () => {
    for (let i = 0; i < 200 && grants.length === 0; i++) await sleep(5);
    assert.ok(grants.length > 0, 'the queue made a pass');
    return grants.shift()!;
  };
  return {
    host,
    discarded,
    reasons,
    nextPass,
    setLeaseEndCheckAt(at: number | undefined) {
      leaseEndCheckAt = at;
    },
    /** Marks a slot freed and answers the pass it starts. */
    async freeOne(answer: Permit | undefined) {
      freed = true;
      const answerPass = await nextPass();
      freed = false;
      answerPass(answer);
      await sleep(5);
    },
  };
}

const options = { probeMs: 60_000, maxWatches: 8, log: pino({ level: 'silent' }) };
const request = { capacity: 1, leaseMs: 1_000, holder: null };
const busy = () => new Error('busy');

test('waiters are granted in the order they queued', async () => {
  const script = scriptedHost();
  const queue = new WaitQueue('r', script.host, options, () => {});
  const never = new AbortController().signal;
  const first = queue.wait(request, Date.now() + 5_000, never, busy);
  const second = queue.wait(request, Date.now() + 5_000, never, busy);
  queue.wake();
  await script.freeOne(permit('a'));
  await script.freeOne(permit('b'));
  assert.equal((await first).runId, 'a');
  assert.equal((await second).runId, 'b');
});

test('a waiter gives up at its deadline with the caller-supplied error', async () => {
  const script = scriptedHost();
  const queue = new WaitQueue('r', script.host, options, () => {});
  const started = Date.now();
  await assert.rejects(queue.wait(request, started + 200, new AbortController().signal, busy), /busy/);
  assert.ok(Date.now() - started >= 195);
  assert.equal(queue.size, 0);
});

test('a permit claimed for a waiter who left meanwhile is handed back, not given to the next in line', async () => {
  const script = scriptedHost();
  const queue = new WaitQueue('r', script.host, options, () => {});
  const leaving = new AbortController();
  const gone = queue.wait(request, Date.now() + 5_000, leaving.signal, busy);
  const next = queue.wait({ ...request, holder: 'next' }, Date.now() + 5_000, new AbortController().signal, busy);
  queue.wake();
  const passForGone = await script.nextPass();
  leaving.abort();
  await assert.rejects(gone, /busy/);
  passForGone(permit('claimed-for-gone'));
  await sleep(5);
  assert.deepEqual(
    script.discarded.map((given) => given.runId),
    ['claimed-for-gone'],
  );
  await script.freeOne(permit('for-next'));
  assert.equal((await next).runId, 'for-next');
});

test('an error from Temporal reaches every waiter at once', async () => {
  const script = scriptedHost();
  const failing: WaitQueueHost = { ...script.host, attempt: async () => Promise.reject(new Error('unavailable')) };
  let idle = false;
  const queue = new WaitQueue('r', failing, options, () => (idle = true));
  const never = new AbortController().signal;
  const waiters = [queue.wait(request, Date.now() + 5_000, never, busy), queue.wait(request, Date.now() + 5_000, never, busy)];
  queue.wake();
  for (const waiter of waiters) await assert.rejects(waiter, /unavailable/);
  await sleep(5);
  assert.equal(idle, true, 'the queue reports itself idle once empty');
});

test('when its last waiter leaves, the queue goes idle at once rather than at its next probe', async () => {
  const script = scriptedHost();
  let idle = false;
  const queue = new WaitQueue('r', script.host, options, () => (idle = true));
  const leaving = new AbortController();
  const waiting = queue.wait(request, Date.now() + 5_000, leaving.signal, busy);
  await sleep(20);
  assert.equal(idle, false);
  leaving.abort();
  await assert.rejects(waiting, /busy/);
  await sleep(20);
  assert.equal(idle, true, 'probe is 60 s away, yet the queue is idle');
});

test('with no slot freed and the probe far off, the pump looks again when a held slot passes its lease end plus the grace', async () => {
  const script = scriptedHost();
  const queue = new WaitQueue('r', script.host, options, () => {});
  const checkAt = Date.now() + 150;
  script.setLeaseEndCheckAt(checkAt);
  const waiting = queue.wait(request, Date.now() + 5_000, new AbortController().signal, busy);
  const answer = await script.nextPass();
  assert.ok(Date.now() >= checkAt, 'the pass came before the lease end check was due');
  assert.deepEqual(script.reasons, ['lease_end'], 'probeMs is 60 s, so only the lease end can have prompted the pass');
  script.setLeaseEndCheckAt(undefined);
  answer(permit('taken-over'));
  assert.equal((await waiting).runId, 'taken-over');
});
