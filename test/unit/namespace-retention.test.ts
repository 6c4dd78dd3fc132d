import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deletionJitterMs, retentionDynamicConfig } from '../../src/temporal/namespace-retention.js';

test('closed runs are deleted within a tenth of the retention after it (at most Temporal\'s default 30 min jitter, at least 1 s)', () => {
  assert.equal(deletionJitterMs(86_400_000), 30 * 60_000);
  assert.equal(deletionJitterMs(3_600_000), 360_000);
  assert.equal(deletionJitterMs(3_000), 1_000);
});

test('the embedded server lowers its retention floor only for a retention below Temporal\'s 1 h', () => {
  assert.deepEqual(retentionDynamicConfig(86_400_000), { 'history.retentionTimerJitterDuration': '1800s' });
  assert.deepEqual(retentionDynamicConfig(3_600_000), { 'history.retentionTimerJitterDuration': '360s' });
  assert.deepEqual(retentionDynamicConfig(2_000), {
    'history.retentionTimerJitterDuration': '1s',
    'system.namespaceMinRetentionLocal': '2s',
  });
});
