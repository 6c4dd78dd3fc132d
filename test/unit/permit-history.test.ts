import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closedRunKind, type ClosedRun } from '../../src/permits/close-reasons.js';
import { grantTimesOf, type RunSpan } from '../../src/permits/permit-history.js';
import { expiredTakeoverReason } from '../../src/permits/lease-takeover.js';
import { parseRunTime } from '../../src/permits/run-time.js';

const at = (text: string) => parseRunTime(text)!;

function span(runId: string, start: string, close: string, workflowId = 'permit:r:0'): RunSpan {
  return { workflowId, runId, start: at(start), close: at(close) };
}

test('a grant whose recorded start came before its predecessor\'s close is shown from that close, never as an overlap', () => {
  const runs = [
    // b's start was stamped 0.8 s before a closed (Temporal stamps it before it finds the slot free).
    span('b', '2026-12-01T10:00:04.200000000Z', '2026-12-01T10:00:09.000000000Z'),
    span('a', '2026-12-01T10:00:00.000000000Z', '2026-12-01T10:00:05.000000123Z'),
    // Another slot's run closing inside b's span is no predecessor of b.
    span('x', '2026-12-01T10:00:00.000000000Z', '2026-12-01T10:00:06.000000000Z', 'permit:r:1'),
  ];
  const granted = grantTimesOf(runs, runs);
  assert.equal(granted.get('b')!.toISOString(), '2026-12-01T10:00:05.000Z');
  assert.equal(granted.get('a')!.toISOString(), '2026-12-01T10:00:00.000Z', 'a run with no predecessor in its span keeps its start');
  assert.equal(granted.get('x')!.toISOString(), '2026-12-01T10:00:00.000Z');
});

test('a grant that started after its predecessor closed keeps its recorded start', () => {
  const runs = [
    span('b', '2026-12-01T10:00:05.100000000Z', '2026-12-01T10:00:09.000000000Z'),
    span('a', '2026-12-01T10:00:00.000000000Z', '2026-12-01T10:00:05.000000000Z'),
  ];
  assert.equal(grantTimesOf(runs, runs).get('b')!.toISOString(), '2026-12-01T10:00:05.100Z');
});

test('RFC 3339 cursors keep nanoseconds and refuse what is not a moment in UTC', () => {
  assert.equal(at('2026-12-01T10:00:05.000000123Z').nanos - at('2026-12-01T10:00:05Z').nanos, 123n);
  assert.equal(at('2026-12-01T10:00:05.1Z').text, '2026-12-01T10:00:05.100000000Z');
  for (const bad of ['2026-12-01', '2026-12-01T10:00:05+01:00', '2026-13-01T00:00:00Z', "2026-12-01T00:00:00Z'", '']) {
    assert.equal(parseRunTime(bad), undefined, bad);
  }
});

test('how a closed permit run ended, from its status, memo outcome and terminate reason', () => {
  const memo = { resource: 'r', slot: 0, capacity: 1, holder: null, leaseMs: 10_000 };
  const start = new Date('2026-12-01T10:00:00Z');
  const run = (status: string, closeAfterMs: number, extra: Partial<ClosedRun> = {}): ClosedRun => ({
    status,
    startTime: start,
    closeTime: new Date(start.getTime() + closeAfterMs),
    memo,
    ...extra,
  });
  const release = 'released through the lock service API (release 6f1c7a56-0d0e-4f43-9b8e-1f2a3b4c5d6e)';
  const cases: Array<[ClosedRun, string]> = [
    [run('COMPLETED', 10_000, { memo: { ...memo, outcome: 'expired' } }), 'expired'],
    [run('COMPLETED', 3_000, { memo: { ...memo, outcome: 'released' } }), 'released'],
    [run('TIMED_OUT', 86_400_000), 'max_hold'],
    [run('TERMINATED', 3_000, { terminateReason: release }), 'released'],
    // A release that came after the lease had run out was answered 410 expired, and is recorded so.
    [run('TERMINATED', 12_000, { terminateReason: release }), 'expired'],
    [run('TERMINATED', 16_000, { terminateReason: expiredTakeoverReason(start.getTime() + 10_000, 5_000) }), 'expired'],
    [run('TERMINATED', 1_000, { terminateReason: 'force-released by ops-1: stuck job (release 3f2a)' }), 'force_released'],
    [run('TERMINATED', 50, { terminateReason: 'not delivered: the start was answered with 3 ms of its 10000 ms lease left' }), 'undelivered'],
    [run('TERMINATED', 50, { terminateReason: 'claimed while the capacity of its resource changed; never delivered' }), 'undelivered'],
    [run('TERMINATED', 2_000, { terminateReason: 'by parent close policy' }), 'terminated'],
    [run('TERMINATED', 2_000), 'terminated'],
    [run('FAILED', 2_000), 'terminated'],
  ];
  for (const [closed, kind] of cases) {
    assert.equal(closedRunKind(closed), kind, `${closed.status} ${closed.terminateReason ?? closed.memo.outcome ?? ''}`);
  }
});
