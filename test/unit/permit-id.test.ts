import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RESOURCE_NAME_PATTERN, parsePermitWorkflowId, permitWorkflowId, shuffledSlots } from '../../src/temporal/permit-id.js';

/** A small seeded PRNG (mulberry32), so "random" orders are reproducible. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sorted = (slots: number[]) => [...slots].sort((a, b) => a - b);
const range = (count: number) => Array.from({ length: count }, (_, index) => index);

test('a permit workflow ID is permit:<resource>:<slot> and parses back to the same resource and slot', () => {
  const cases: Array<[string, number]> = [
    ['db', 0],
    ['gpu-pool', 2],
    ['a.b_c-d', 41],
    ['9lives', 9_999],
    ['x', 0],
    ['r'.repeat(128), 7],
  ];
  for (const [resource, slot] of cases) {
    const workflowId = permitWorkflowId(resource, slot);
    assert.equal(workflowId, `permit:${resource}:${slot}`);
    assert.deepEqual(parsePermitWorkflowId(workflowId), { resource, slot });
  }
});

test('workflow IDs that are not permit slots do not parse', () => {
  const malformed = [
    '',
    'permit',
    'permit:',
    'permit:db',
    'permit:db:',
    'permit::0',
    'permit:db:x',
    'permit:db:-1',
    'permit:db:1.5',
    'permit:db: 1',
    'permit:a:b:0',
    'permit:café:0',
    'permit:-db:0',
    'permit:.db:0',
    `permit:${'r'.repeat(129)}:0`,
    'Permit:db:0',
    'lock:db:0',
    'db:0',
    'example-consumer-1',
  ];
  for (const workflowId of malformed) {
    assert.equal(parsePermitWorkflowId(workflowId), undefined, `expected ${JSON.stringify(workflowId)} to be rejected`);
  }
});

test('the resource name pattern excludes the colon that separates the parts of a workflow ID', () => {
  assert.ok(RESOURCE_NAME_PATTERN.test('a.b_c-9'));
  assert.ok(!RESOURCE_NAME_PATTERN.test('a:b'));
  assert.ok(!RESOURCE_NAME_PATTERN.test(''));
  assert.ok(RESOURCE_NAME_PATTERN.test('r'.repeat(128)));
  assert.ok(!RESOURCE_NAME_PATTERN.test('r'.repeat(129)));
});

test('shuffledSlots returns a permutation of 0..n-1', () => {
  const random = seeded(42);
  for (const count of [0, 1, 2, 3, 10, 64, 1_000]) {
    for (let round = 0; round < 20; round++) {
      const slots = shuffledSlots(count, random);
      assert.equal(slots.length, count);
      assert.deepEqual(sorted(slots), range(count));
    }
  }
  // The default source is Math.random; it must give a permutation too.
  assert.deepEqual(sorted(shuffledSlots(50)), range(50));
});

test('shuffledSlots is deterministic for a given random source', () => {
  const first = Array.from({ length: 10 }, () => shuffledSlots(16, seeded(7)));
  for (const order of first) assert.deepEqual(order, first[0]);

  const a = seeded(123);
  const b = seeded(123);
  for (let round = 0; round < 50; round++) assert.deepEqual(shuffledSlots(8, a), shuffledSlots(8, b));

  // Fisher-Yates with j = i everywhere swaps nothing.
  assert.deepEqual(shuffledSlots(5, () => 0.999_999), [0, 1, 2, 3, 4]);
  // With j = 0 everywhere, each step swaps the current last element with the first.
  assert.deepEqual(shuffledSlots(3, () => 0), [1, 2, 0]);
});

test('shuffledSlots reaches every order, so no slot is always tried first', () => {
  // Seeded, so the counts are fixed: this checks for a biased shuffle, not for luck.
  const random = seeded(2024);
  const counts = new Map<string, number>();
  const rounds = 6_000;
  for (let round = 0; round < rounds; round++) {
    const key = shuffledSlots(3, random).join(',');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [order, count] of counts) {
    assert.ok(count > rounds / 6 / 2 && count < (rounds / 6) * 2, `order ${order} came up ${count} times of ${rounds}`);
  }
});
