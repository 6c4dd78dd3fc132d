import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSignal } from '../../src/permits/capacity-log.js';
import { capacityRecordId, decisionOf } from '../../src/permits/capacity-records.js';

test('a replaced capacity record\'s close reason says the capacity now in force and whether its slots were read empty', () => {
  assert.deepEqual(decisionOf('capacity changed from 5 to 1: no holders (change 3f2a)'), { capacity: 1, verifiedEmpty: true });
  assert.deepEqual(decisionOf('capacity kept at 5: holders remain (change 3f2a refused)'), { capacity: 5, verifiedEmpty: false });
  assert.deepEqual(decisionOf('capacity record renewed at 3 (change 9c1d)'), { capacity: 3, verifiedEmpty: false });
  // Closed some other way (timed out, terminated by hand): the record's own capacity, unchecked.
  assert.equal(decisionOf(undefined), undefined);
  assert.equal(decisionOf('terminated from the Temporal UI'), undefined);
});

test('log entries are read only from well-formed signals; anything else in a record\'s history is ignored', () => {
  assert.deepEqual(parseSignal('lease', { replica: 'r1', nonce: 'n', ms: 300_000 }), { kind: 'lease', replica: 'r1', nonce: 'n', ms: 300_000 });
  assert.deepEqual(parseSignal('change', { id: 'c', to: 5, by: 'r1' }), { kind: 'change', id: 'c', to: 5, by: 'r1' });
  assert.deepEqual(parseSignal('ack', { id: 'c', replica: 'r2' }), { kind: 'ack', id: 'c', replica: 'r2' });
  assert.deepEqual(parseSignal('tick', { nonce: 't' }), { kind: 'tick', nonce: 't' });
  assert.equal(parseSignal('lease', { replica: 'r1', nonce: 'n', ms: -1 }), undefined);
  assert.equal(parseSignal('change', { id: 'c', to: 0, by: 'r1' }), undefined);
  assert.equal(parseSignal('change', { id: 'c', to: 2.5, by: 'r1' }), undefined);
  assert.equal(parseSignal('ack', 'not an object'), undefined);
  assert.equal(parseSignal('release', { id: 'c' }), undefined);
  assert.equal(capacityRecordId('gpu-pool'), 'capacity:gpu-pool');
});
