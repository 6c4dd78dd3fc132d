import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationError, formatDuration, parseDuration } from '../../packages/client/src/cli/duration.js';

test('durations with one unit are read in milliseconds', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1d'), 86_400_000);
});

test('durations may combine units and use decimals', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5s'), 1_500);
  assert.equal(parseDuration('0.25s'), 250);
  assert.equal(parseDuration(' 10s '), 10_000, 'surrounding blanks are ignored');
});

test('zero needs no unit; "forever" is Infinity only where allowed', () => {
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(parseDuration('forever', { allowForever: true }), Infinity);
  assert.throws(() => parseDuration('forever'), DurationError);
});

test('a number without a unit is refused with a hint, not guessed', () => {
  assert.throws(() => parseDuration('30'), { name: 'DurationError', message: /"30" has no unit; write 30s for seconds or 30ms/ });
});

test('malformed durations are refused with a message that quotes them', () => {
  for (const text of ['5x', '1m30', 'm', '1.s', '.5s', '5 s', 'ten seconds', '1e3ms', '30S']) {
    assert.throws(() => parseDuration(text), { name: 'DurationError', message: new RegExp(`"${text.replace('.', '\\.')}" is not a duration`) }, text);
  }
  assert.throws(() => parseDuration('-5s'), { message: /"-5s" is negative/ });
  assert.throws(() => parseDuration(''), { message: /is empty/ });
  assert.throws(() => parseDuration('99999999999999d'), { message: /too long/ });
});

test('durations are formatted in the same notation', () => {
  assert.equal(formatDuration(250), '250ms');
  assert.equal(formatDuration(1_000), '1s');
  assert.equal(formatDuration(1_500), '1.5s');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(Infinity), 'forever');
  for (const ms of [1, 999, 1_000, 61_001, 3_600_000, 86_400_000 + 5_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, `${ms} survives a round trip`);
  }
});
