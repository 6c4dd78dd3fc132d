import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIGNAL_COPY_WINDOW_MS, stopSignalClassifier } from '../../src/stop-signals.js';

function classifierAt(times: number[]) {
  let index = 0;
  const classify = stopSignalClassifier(SIGNAL_COPY_WINDOW_MS, () => times[index++]!);
  return times.map(() => classify());
}

test('copies of a stop signal that arrive with the first (terminal, npm and tsx relaying) are not a second press', () => {
  // What `npm start` delivers on Ctrl-C: the terminal's signal, then the relays a few to tens of ms later.
  assert.deepEqual(classifierAt([0, 3, 31, 60, 400]), ['first', 'copy', 'copy', 'copy', 'copy']);
});

test('a stop signal once the copy window has passed forces the exit, and so does every later one', () => {
  assert.deepEqual(classifierAt([0, 30, SIGNAL_COPY_WINDOW_MS, SIGNAL_COPY_WINDOW_MS + 5, 10_000]), ['first', 'copy', 'again', 'again', 'again']);
});

test('the window runs from the first signal, so a stream of copies cannot hold off a deliberate press for ever', () => {
  const steps = Array.from({ length: 12 }, (_, i) => i * 100);
  const verdicts = classifierAt(steps);
  assert.equal(verdicts[0], 'first');
  assert.deepEqual(verdicts.slice(1, 10), Array(9).fill('copy'));
  assert.deepEqual(verdicts.slice(10), ['again', 'again']);
});
