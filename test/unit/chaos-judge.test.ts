import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Answer, Hold } from '../../chaos/clients.js';
import { faultImpacts, faultOutcomes, judgeLateReleases, judgeLiveness, judgeOverlap, judgeServerErrors, judgeStaleWrites } from '../../chaos/judge.js';
import { planFaults } from '../../chaos/faults.js';

// The chaos run's judgements are only worth their "pass" if each one fails on what it looks for.

function hold(client: string, grantedAt: number, end: number, extra: Partial<Hold> = {}): Hold {
  return {
    client,
    resource: 'r',
    capacity: 1,
    slot: 0,
    runId: `run-${client}`,
    fencingSeq: '1',
    grantedBy: 'http://a',
    leaseMs: 1_000,
    sentAt: grantedAt - 5,
    grantedAt,
    leaseEndClient: end,
    leaseEndUpper: end + 5,
    paused: false,
    writes: [],
    ...extra,
  };
}

test('overlap: two holders of a mutex whose windows overlap are a violation; back-to-back windows are not', () => {
  assert.equal(judgeOverlap([hold('a', 0, 100), hold('b', 100, 200)], { r: 1 }).passed, true);
  const overlapping = judgeOverlap([hold('a', 0, 100), hold('b', 99, 200)], { r: 1 });
  assert.equal(overlapping.passed, false);
  assert.match(overlapping.violations[0]!, /had 2 holders/);
  // A release sent early ends the window then, whatever the lease.
  assert.equal(judgeOverlap([hold('a', 0, 1_000, { releaseSentAt: 50 }), hold('b', 60, 200)], { r: 1 }).passed, true);
});

test('overlap: a capacity-3 resource allows three holders at once and not four', () => {
  const three = [0, 1, 2].map((index) => hold(`h${index}`, index, 100));
  assert.equal(judgeOverlap(three, { r: 3 }).passed, true);
  assert.equal(judgeOverlap([...three, hold('h3', 50, 60)], { r: 3 }).passed, false);
});

test('stale writes: a write accepted with a number below one accepted before is a violation', () => {
  const ok = new Map([['r.0', [{ id: 1, fencingSeq: '5', writer: 'a' }, { id: 2, fencingSeq: '5', writer: 'a' }, { id: 3, fencingSeq: '9', writer: 'b' }]]]);
  assert.equal(judgeStaleWrites(ok, []).passed, true);
  const stale = new Map([['r.0', [{ id: 1, fencingSeq: '9', writer: 'b' }, { id: 2, fencingSeq: '10000000000000000005', writer: 'a' }, { id: 3, fencingSeq: '9', writer: 'b' }]]]);
  assert.equal(judgeStaleWrites(stale, []).passed, false);
});

test('late releases: a 204 to a release sent after the lease could have ended is a violation; 410 is not', () => {
  const late = hold('a', 0, 100);
  assert.equal(judgeLateReleases([{ hold: late, sentAt: 200, status: 410 }]).passed, true);
  assert.equal(judgeLateReleases([{ hold: late, sentAt: 104, status: 204 }]).passed, true, 'within the upper lease end');
  assert.equal(judgeLateReleases([{ hold: late, sentAt: 200, status: 204 }]).passed, false);
});

test('server errors: 503 with Retry-After passes; a 500, or a 503 without Retry-After, does not', () => {
  const answer = (status: number, retryAfter: boolean): Answer => ({ op: 'acquire', url: 'http://a', sentAt: 0, answeredAt: 1, status, retryAfter });
  assert.equal(judgeServerErrors([answer(503, true), answer(201, false), answer(0, false)]).passed, true);
  assert.equal(judgeServerErrors([answer(500, false)]).passed, false);
  assert.equal(judgeServerErrors([answer(503, false)]).passed, false);
});

test('liveness: a resource not fully acquired, or acquired past its bound, is a violation', () => {
  const result = { resource: 'r', capacity: 3, granted: 3, elapsedMs: 500, boundMs: 13_000 };
  assert.equal(judgeLiveness([result]).passed, true);
  assert.equal(judgeLiveness([{ ...result, granted: 2, elapsedMs: undefined }]).passed, false);
  assert.equal(judgeLiveness([{ ...result, elapsedMs: 13_001 }]).passed, false);
});

test('fault impacts: 503 seconds and the longest stretch without a success count against the fault before them', () => {
  const fault = { kind: 'temporal_kill' as const, atMs: 0, replica: 0, downMs: 1_000, startedAt: 10_000, recoveredAt: 12_000, target: 'Temporal' };
  const answers: Answer[] = [
    { op: 'acquire', url: 'a', sentAt: 10_100, answeredAt: 10_500, status: 503, retryAfter: true },
    { op: 'acquire', url: 'a', sentAt: 11_000, answeredAt: 11_200, status: 503, retryAfter: true },
    { op: 'acquire', url: 'a', sentAt: 12_000, answeredAt: 13_000, status: 201, retryAfter: false },
    { op: 'release', url: 'a', sentAt: 13_000, answeredAt: 13_100, status: 204, retryAfter: false },
  ];
  assert.deepEqual(faultImpacts([fault], answers, 13_200), [
    { kind: 'temporal_kill', count: 1, seconds503: 2, longestUnavailableMs: 3_000, worstTarget: 'Temporal' },
  ]);
});

test('fault impacts name what the worst fault of a kind hit, and each fault\'s own figures stop at the next fault', () => {
  const kill = (target: string, startedAt: number) => ({ kind: 'replica_kill' as const, atMs: 0, replica: 0, downMs: 500, startedAt, recoveredAt: startedAt + 500, target });
  const faults = [kill('the api replica', 10_000), kill('the worker replica', 20_000)];
  const answers: Answer[] = [
    { op: 'acquire', url: 'a', sentAt: 10_000, answeredAt: 10_400, status: 201, retryAfter: false },
    { op: 'acquire', url: 'a', sentAt: 20_100, answeredAt: 21_000, status: 503, retryAfter: true },
    { op: 'release', url: 'a', sentAt: 25_000, answeredAt: 26_000, status: 204, retryAfter: false },
  ];
  assert.deepEqual(
    faultOutcomes(faults, answers, 30_000).map((outcome) => outcome.longestUnavailableMs),
    [9_600, 6_000],
  );
  assert.deepEqual(faultImpacts(faults, answers, 30_000), [
    { kind: 'replica_kill', count: 2, seconds503: 1, longestUnavailableMs: 9_600, worstTarget: 'the api replica' },
  ]);
});

test('the same seed and duration plan the same faults; every kind at least three times', () => {
  const topology = { faultKinds: ['replica_kill', 'temporal_kill', 'holder_pause', 'tcp_cut'] as const, replicaCount: 2 };
  const plan = planFaults(7, 60_000, topology);
  assert.deepEqual(planFaults(7, 60_000, topology), plan);
  assert.notDeepEqual(planFaults(8, 60_000, topology), plan);
  for (const kind of topology.faultKinds) assert.ok(plan.filter((fault) => fault.kind === kind).length >= 3, kind);
});
