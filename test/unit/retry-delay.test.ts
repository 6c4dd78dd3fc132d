import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../../src/permits/retry-delay.js';

const backoff = { firstMs: 100, maxMs: 2_000 };

test('the retry delay doubles with each failure in a row and stops growing at its maximum', () => {
  const ceiling = (failures: number) => retryDelayMs(failures, backoff, () => 1);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 50].map(ceiling), [100, 200, 400, 800, 1_600, 2_000, 2_000]);
});

test('jitter spreads each retry over the upper half of its delay, never to zero', () => {
  assert.equal(retryDelayMs(3, backoff, () => 0), 200);
  assert.equal(retryDelayMs(3, backoff, () => 0.5), 300);
  for (let i = 0; i < 100; i++) {
    const delay = retryDelayMs(1, backoff);
    assert.ok(delay >= 50 && delay <= 100, `${delay}`);
  }
});
