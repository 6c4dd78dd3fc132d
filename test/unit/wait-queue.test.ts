import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { temporalUnavailable } from '../../src/permits/errors.js';
import type { Permit } from '../../src/permits/permit.js';
import { WaitQueue, type PassReason, type WaitQueueHost } from '../../src/permits/wait-queue.js';
import { until } from '../helpers/metrics.js';

// The queue's own rules (order, deadlines, hand-back of a permit nobody can take) with a scripted
// host; the real host, over Temporal, is exercised end to end in test/e2e/wait-queue.test.ts.

function permit(runId: string): Permit {
  return {
    runId,
    fencingToken: runId,
    fencingSeq: '1',
    workflowId: 'permit:r:0',
    resource: 'r',
    slot: 0,
    capacity: 1,
    leaseMs: 1_000,
    holder: null,
    acquiredAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 1_000).toISOString(),
    owner: null,
  };
}

/** Stands for the service's capacity_conflict: only requests of another capacity are refused. */
class RefusedCapacity extends Error {
  constructor(readonly inForce: number) {
    super(`capacity ${inForce} in force`);
  }
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
    refusesOnly: (error, request) => error instanceof RefusedCapacity && request.capacity !== error.inForce,
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

test('a transient Temporal error in a pass keeps every waiter in its place, and a later pass grants in order', async () => {
  const script = scriptedHost();
  let failNext = true;
  const host: WaitQueueHost = {
    ...script.host,
    attempt: (...args) => {
      if (!failNext) return script.host.attempt(...args);
      failNext = false;
      return Promise.reject(temporalUnavailable('DEADLINE_EXCEEDED'));
    },
  };
  const queue = new WaitQueue('r', host, options, () => {});
  const never = new AbortController().signal;
  const settled: string[] = [];
  const first = queue.wait(request, Date.now() + 5_000, never, busy);
  const second = queue.wait(request, Date.now() + 5_000, never, busy);
  for (const [name, waiter] of [['first', first], ['second', second]] as const) {
    waiter.then(
      () => settled.push(`${name} granted`),
      (error: Error) => settled.push(`${name} failed: ${error.message}`),
    );
  }
  queue.wake();
  // The pass after the failed one is the fact that the queue carried on.
  await script.freeOne(permit('a'));
  await script.freeOne(permit('b'));
  assert.equal((await first).runId, 'a');
  assert.equal((await second).runId, 'b');
  assert.deepEqual(settled, ['first granted', 'second granted']);
});

test('an error a retry cannot cure still reaches every waiter at once', async () => {
  const script = scriptedHost();
  const failing: WaitQueueHost = { ...script.host, attempt: async () => Promise.reject(new Error('bug')) };
  let idle = false;
  const queue = new WaitQueue('r', failing, options, () => (idle = true));
  const never = new AbortController().signal;
  const waiters = [queue.wait(request, Date.now() + 5_000, never, busy), queue.wait(request, Date.now() + 5_000, never, busy)];
  queue.wake();
  for (const waiter of waiters) await assert.rejects(waiter, /bug/);
  await sleep(5);
  assert.equal(idle, true, 'the queue reports itself idle once empty');
});

test('a capacity change while waiters wait refuses only those of the old capacity; the others keep their places', async () => {
  const script = scriptedHost();
  let failNext = true;
  const host: WaitQueueHost = {
    ...script.host,
    attempt: (...args) => {
      if (!failNext) return script.host.attempt(...args);
      failNext = false;
      return Promise.reject(new RefusedCapacity(3));
    },
  };
  const queue = new WaitQueue('r', host, options, () => {});
  const never = new AbortController().signal;
  const old = queue.wait({ ...request, capacity: 1 }, Date.now() + 5_000, never, busy);
  const current = queue.wait({ ...request, capacity: 3 }, Date.now() + 5_000, never, busy);
  queue.wake();
  await assert.rejects(old, /capacity 3 in force/);
  const answer = await script.nextPass();
  answer(permit('c'));
  assert.equal((await current).runId, 'c');
});

test('while passes keep failing the pump backs off instead of spinning, and the waiter hears the last failure at its deadline', async () => {
  let attempts = 0;
  const host: WaitQueueHost = {
    ...scriptedHost().host,
    attempt: async () => {
      attempts++;
      return Promise.reject(temporalUnavailable('DEADLINE_EXCEEDED'));
    },
    // A slot seen freed keeps its hint through failed passes: the pump must not take that as a reason to retry at once.
    hasFreedSlots: () => true,
  };
  const queue = new WaitQueue('r', host, options, () => {});
  const started = Date.now();
  const heard: Array<Error | undefined> = [];
  const waiting = queue.wait(request, started + 1_000, new AbortController().signal, ({ lastPassError }) => {
    heard.push(lastPassError);
    return new Error(lastPassError ? `unavailable: ${lastPassError.message}` : 'busy');
  });
  await assert.rejects(waiting, /unavailable: Temporal is unavailable: DEADLINE_EXCEEDED/);
  assert.ok(Date.now() - started >= 995, `the waiter was answered after ${Date.now() - started} ms, before its deadline`);
  assert.equal(heard.length, 1);
  // Back-off from 100 ms, doubling: about 4 passes in a second; spinning would make thousands.
  assert.ok(attempts >= 2 && attempts <= 10, `${attempts} passes in 1 s`);
});

test('a waiter whose wait ends after a pass succeeded again is told busy, not the old failure', async () => {
  const script = scriptedHost();
  let failNext = true;
  const host: WaitQueueHost = {
    ...script.host,
    attempt: (...args) => {
      if (!failNext) return script.host.attempt(...args);
      failNext = false;
      return Promise.reject(temporalUnavailable('DEADLINE_EXCEEDED'));
    },
  };
  const queue = new WaitQueue('r', host, options, () => {});
  const heard: Array<Error | undefined> = [];
  const waiting = queue.wait(request, Date.now() + 5_000, new AbortController().signal, ({ lastPassError }) => {
    heard.push(lastPassError);
    return new Error('given up');
  });
  queue.wake();
  await script.freeOne(undefined); // the retry finds every slot held
  await assert.rejects(
    queue.wait(request, Date.now() + 50, new AbortController().signal, ({ lastPassError }) => {
      heard.push(lastPassError);
      return new Error('given up');
    }),
    /given up/,
  );
  assert.deepEqual(heard, [undefined]);
  queue.rejectAll(new Error('done'));
  await assert.rejects(waiting, /done/);
});

/** A host with one held slot to watch; each watch it opens is answered by `openWatch`. */
function watchingHost(openWatch: (call: number, signal: AbortSignal) => Promise<void>) {
  let calls = 0;
  const host: WaitQueueHost = {
    ...scriptedHost().host,
    slotsToWatch: () => [0],
    watchSlot: (_slot, signal) => openWatch(++calls, signal),
  };
  return { host, calls: () => calls };
}

/** A watch that stays parked until the queue closes it. */
function parkedUntilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
}

test('a failed watch is reopened within a moment, not at the next probe', async () => {
  const watching = watchingHost((call, signal) =>
    call === 1 ? Promise.reject(new Error('connection reset')) : parkedUntilAborted(signal),
  );
  // The probe is a minute away: only the watch's own retry can reopen it in time.
  const queue = new WaitQueue('r', watching.host, options, () => {});
  const leaving = new AbortController();
  const waiting = queue.wait(request, Date.now() + 5_000, leaving.signal, busy);
  for (let i = 0; i < 100 && watching.calls() < 2; i++) await sleep(10);
  assert.equal(watching.calls(), 2, 'the watch was reopened within a second of failing');
  leaving.abort();
  await assert.rejects(waiting, /busy/);
});

test('watches that keep failing are reopened after pauses that grow, not in a tight loop', async () => {
  const watching = watchingHost(() => Promise.reject(new Error('unavailable')));
  const queue = new WaitQueue('r', watching.host, options, () => {});
  const leaving = new AbortController();
  const waiting = queue.wait(request, Date.now() + 5_000, leaving.signal, busy);
  await sleep(1_000);
  leaving.abort();
  await assert.rejects(waiting, /busy/);
  // 100 ms doubling: about 4 reopens in a second; a retry without a pause would make thousands.
  assert.ok(watching.calls() >= 2 && watching.calls() <= 10, `${watching.calls()} watches opened in 1 s`);
});

test('when its last waiter leaves, the queue goes idle at once rather than at its next probe', async () => {
  const script = scriptedHost();
  let idle = false;
  const queue = new WaitQueue('r', script.host, options, () => (idle = true));
  const leaving = new AbortController();
  const waiting = queue.wait(request, Date.now() + 5_000, leaving.signal, busy);
  assert.equal(idle, false);
  leaving.abort();
  await assert.rejects(waiting, /busy/);
  // The probe is 60 s away: idle within 2 s can only come from the last waiter leaving.
  await until(async () => idle, 'the queue going idle', 2_000);
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

test('a wake for closes listed by visibility makes a pass over those slots alone; a freed slot outranks them', async () => {
  const script = scriptedHost();
  const queue = new WaitQueue('r', script.host, options, () => {});
  // A wake before the pump parks is kept as pending, so the wakes need not wait for it.
  const waiting = queue.wait(request, Date.now() + 5_000, new AbortController().signal, busy);
  queue.wake('closed');
  (await script.nextPass())(undefined);
  queue.wake('closed');
  queue.wake('freed');
  (await script.nextPass())(permit('freed'));
  assert.equal((await waiting).runId, 'freed');
  assert.deepEqual(script.reasons, ['closed', 'freed']);
});

test('a queue asks for looks in visibility only while a held slot is unwatched', async () => {
  const script = scriptedHost();
  const watched = new Map<number, () => void>();
  const host: WaitQueueHost = {
    ...script.host,
    slotsToWatch: () => [0, 1],
    watchSlot: (slot) => new Promise<void>((resolve) => watched.set(slot, resolve)),
  };
  const small = new WaitQueue('small', host, options, () => {});
  const large = new WaitQueue('large', { ...host, slotsToWatch: () => [0, 1, 2, 3, 4, 5, 6, 7, 8] }, options, () => {});
  assert.equal(small.unwatchedSlotsRemain, false, 'nobody waits');
  const stop = new AbortController();
  const waits = [
    small.wait({ ...request, capacity: 2 }, Date.now() + 5_000, stop.signal, busy),
    large.wait({ ...request, capacity: 9 }, Date.now() + 5_000, stop.signal, busy),
  ];
  // The pump opens its watches before it first parks, within wait() itself.
  assert.equal(small.unwatchedSlotsRemain, false, 'both held slots of a capacity-2 resource are watched');
  assert.equal(large.unwatchedSlotsRemain, true, 'a capacity-9 resource has a held slot no watch covers');
  stop.abort();
  await Promise.allSettled(waits);
  assert.equal(large.unwatchedSlotsRemain, false, 'nobody waits any more');
});
