import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotHints, SlotHintsCache } from '../../src/permits/slot-hints.js';

const ALL = { maxAttempts: 1_000, maxBusyRechecks: 1_000 };
const NOW = 1_000_000;

test('a fresh resource offers every slot once, in some order', () => {
  const hints = new SlotHints(10);
  assert.deepEqual([...hints.candidates(NOW, ALL)].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('slots seen busy come after every slot not known to be held, least recently verified first', () => {
  const hints = new SlotHints(5);
  hints.markBusy(3, NOW - 10);
  hints.markBusy(1, NOW - 30);
  hints.markBusy(4, NOW - 20, NOW + 60_000);
  const order = [...hints.candidates(NOW, ALL)];
  assert.deepEqual([...order.slice(0, 2)].sort(), [0, 2]);
  assert.deepEqual(order.slice(2), [1, 4, 3]);
});

test('a freed slot is tried first, once', () => {
  const hints = new SlotHints(100);
  for (let slot = 0; slot < 100; slot++) hints.markBusy(slot, NOW);
  hints.markFree(42);
  assert.equal(hints.hasFreedSlots(), true);
  assert.equal([...hints.candidates(NOW, ALL)][0], 42);
  assert.equal(hints.hasFreedSlots(), false, 'the freed mark is consumed by the pass that tried it');
  hints.markBusy(42, NOW + 1); // someone else took it first
  assert.deepEqual([...hints.candidates(NOW + 2, { maxAttempts: 10, maxBusyRechecks: 0 })], []);
});

test('at 99% occupancy the free slots are offered before any held one', () => {
  const hints = new SlotHints(1_000);
  const free = new Set([7, 123, 456, 789, 999, 5, 6, 300, 301, 302]);
  for (let slot = 0; slot < 1_000; slot++) if (!free.has(slot)) hints.markBusy(slot, NOW, NOW + 60_000);
  const order = [...hints.candidates(NOW, { maxAttempts: 64, maxBusyRechecks: 16 })];
  assert.deepEqual(new Set(order.slice(0, 10)), free);
  assert.equal(order.length, 26, '10 free-looking slots, then 16 re-checks of held ones');
});

test('a held slot whose known lease has ended counts as not known to be held', () => {
  const hints = new SlotHints(2);
  hints.markBusy(0, NOW - 5_000, NOW - 1);
  hints.markBusy(1, NOW - 5_000);
  assert.deepEqual([...hints.candidates(NOW, { maxAttempts: 10, maxBusyRechecks: 0 })], [0]);
  assert.deepEqual(hints.busySlotsByExpiry(NOW), [1]);
});

test('the limits cap the pass and the re-checks of held slots', () => {
  const hints = new SlotHints(50);
  for (let slot = 0; slot < 50; slot++) hints.markBusy(slot, NOW - slot);
  assert.equal([...hints.candidates(NOW, { maxAttempts: 8, maxBusyRechecks: 3 })].length, 3);
  assert.deepEqual([...hints.candidates(NOW, { maxAttempts: 8, maxBusyRechecks: 0 })], []);
  const fresh = new SlotHints(10_000);
  assert.equal([...fresh.candidates(NOW, { maxAttempts: 8, maxBusyRechecks: 8 })].length, 8);
});

test('a slot another acquire is trying right now is offered last', () => {
  const hints = new SlotHints(3);
  hints.beginAttempt(0);
  hints.beginAttempt(1);
  assert.deepEqual([...hints.candidates(NOW, ALL)].slice(0, 1), [2]);
  hints.endAttempt(0);
  hints.endAttempt(1);
  assert.equal([...hints.candidates(NOW, ALL)].length, 3);
});

test('busy slots are listed for watching soonest known lease end first', () => {
  const hints = new SlotHints(4);
  hints.markBusy(0, NOW);
  hints.markBusy(1, NOW, NOW + 9_000);
  hints.markBusy(2, NOW, NOW + 1_000);
  assert.deepEqual(hints.busySlotsByExpiry(NOW), [2, 1, 0]);
});

test('the cache keeps hints per resource and capacity, dropping the least recently used', () => {
  const cache = new SlotHintsCache(2);
  cache.get('a', 3).markBusy(0, NOW);
  cache.get('b', 3);
  assert.deepEqual(cache.get('a', 3).busySlotsByExpiry(NOW), [0], 'same capacity: same hints');
  cache.get('c', 3);
  assert.equal(cache.peek('b'), undefined, 'b was the least recently used');
  assert.deepEqual(cache.get('a', 5).busySlotsByExpiry(NOW), [], 'another capacity starts afresh');
});

test('a pass that stops at the first freed slot leaves the other freed slots first in line', () => {
  const hints = new SlotHints(10);
  for (let slot = 0; slot < 10; slot++) hints.markBusy(slot, NOW);
  hints.markFree(3);
  hints.markFree(6);
  const pass = hints.candidates(NOW, ALL);
  assert.equal(pass.next().value, 3);
  hints.markBusy(3, NOW, NOW + 60_000); // granted
  assert.equal(hints.hasFreedSlots(), true);
  assert.equal(hints.candidates(NOW, ALL).next().value, 6);
});

test('a known lease end is kept even after it passed, and the earliest one still to come is found', () => {
  const hints = new SlotHints(4);
  hints.markBusy(0, NOW, NOW - 3_000);
  hints.markBusy(1, NOW, NOW + 9_000);
  hints.markBusy(2, NOW, NOW + 1_000);
  hints.markBusy(3, NOW);
  assert.equal(hints.knownLeaseEnd(0), NOW - 3_000, 'a lease end that has passed still tells when the run may be ended');
  assert.equal(hints.knownLeaseEnd(3), undefined);
  assert.equal(hints.earliestLeaseEndAfter(NOW), NOW + 1_000);
  assert.equal(hints.earliestLeaseEndAfter(NOW - 5_000), NOW - 3_000);
  assert.equal(hints.earliestLeaseEndAfter(NOW + 9_000), undefined);
  hints.markFree(0);
  assert.equal(hints.knownLeaseEnd(0), undefined, 'a freed slot has no holder to know about');
});

test('a close listed by visibility frees the slot, unless this replica knows a later run holds it', () => {
  const hints = new SlotHints(100);
  hints.markBusy(7, NOW, NOW + 60_000); // seen held by a failed start: its run is not known
  hints.markBusy(8, NOW, NOW + 60_000, 'run-8b'); // granted here after run-8a closed
  hints.markBusy(9, NOW, NOW + 60_000, 'run-9'); // granted here, then released on another replica
  assert.equal(hints.markClosed(7, 'run-7'), true);
  assert.equal(hints.markClosed(8, 'run-8a'), false, 'the close of the run before the one this replica granted');
  assert.equal(hints.markClosed(9, 'run-9'), true);
  assert.equal(hints.markClosed(100, 'run-100'), false, 'beyond the capacity');
  const closedOnly = { maxAttempts: 16, maxBusyRechecks: 0, maxUnmarked: 0 };
  assert.deepEqual([...hints.candidates(NOW, closedOnly)], [7, 9], 'only the closed slots, no search of the rest of the pool');
  assert.deepEqual([...hints.candidates(NOW, closedOnly)], [], 'each close is tried once');
});
