import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeakGauge, mean, median, perSecond, percentile, ratio, sequentialRate, summarize } from '../../bench/stats.js';

const close = (actual: number, expected: number, tolerance = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not ${expected}`);

test('the median of an odd count is the middle sample, of an even count the mean of the two middle ones', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

test('percentiles interpolate linearly between the nearest ranks of the sorted samples', () => {
  const samples = Array.from({ length: 101 }, (_, index) => 100 - index); // 0..100, unsorted
  assert.equal(percentile(samples, 0), 0);
  assert.equal(percentile(samples, 50), 50);
  assert.equal(percentile(samples, 99), 99);
  assert.equal(percentile(samples, 100), 100);
  // Ten samples: rank of p99 is 9 * 0.99 = 8.91, so 91% of the way from the 9th to the 10th sample.
  close(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 9.91);
  close(percentile([10, 20], 25), 12.5);
});

test('percentiles do not reorder the caller\'s samples', () => {
  const samples = [3, 1, 2];
  percentile(samples, 50);
  assert.deepEqual(samples, [3, 1, 2]);
});

test('a percentile of nothing, or outside 0..100, is refused rather than made up', () => {
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], -1), RangeError);
  assert.throws(() => percentile([1], Number.NaN), RangeError);
  assert.throws(() => summarize([]), RangeError);
});

test('a summary gives count, extremes, p50, p99 and mean of the samples', () => {
  const summary = summarize([4, 8, 6, 2]);
  assert.equal(summary.count, 4);
  assert.equal(summary.min, 2);
  assert.equal(summary.max, 8);
  assert.equal(summary.p50, 5);
  close(summary.p99, 7.94);
  assert.equal(summary.mean, 5);
});

test('the mean is the plain average, and refuses an empty list', () => {
  assert.equal(mean([1, 2, 3, 6]), 3);
  assert.throws(() => mean([]), RangeError);
});

test('a rate is events per second of elapsed milliseconds', () => {
  assert.equal(perSecond(50, 10_000), 5);
  assert.equal(perSecond(0, 1_000), 0);
  assert.throws(() => perSecond(1, 0), RangeError);
});

test('the rate of back-to-back cycles is their count over the time they took together', () => {
  // 4 cycles of 10, 10, 20 and 60 ms took 100 ms: 40 cycles/s, not 1000 / p50.
  assert.equal(sequentialRate([10, 10, 20, 60]), 40);
});

test('a ratio needs both figures and a positive denominator', () => {
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(undefined, 2), undefined);
  assert.equal(ratio(3, undefined), undefined);
  assert.equal(ratio(3, 0), undefined);
});

test('the peak gauge remembers the most holders inside at once', () => {
  const gauge = new PeakGauge();
  gauge.enter();
  gauge.enter();
  gauge.leave();
  gauge.enter();
  gauge.enter();
  assert.equal(gauge.now, 3);
  gauge.leave();
  gauge.leave();
  gauge.leave();
  assert.equal(gauge.now, 0);
  assert.equal(gauge.peak, 3);
  assert.throws(() => gauge.leave());
});
