import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startTestService, uniqueResource } from '../helpers/service.js';

test('a resource of unknown or large capacity is listed from visibility, with the holders\' capacity', async (t) => {
  const service = await startTestService(t);
  const resource = uniqueResource('wide');
  const other = uniqueResource('wide');
  const first = await service.call('POST', `/resources/${resource}/acquire`, { capacity: 100, holder: 'a' });
  const second = await service.call('POST', `/resources/${resource}/acquire`, { capacity: 100, holder: 'b' });
  // A resource whose name starts the same way must not leak into the listing.
  await service.call('POST', `/resources/${resource}x/acquire`, { capacity: 100 });
  await service.call('POST', `/resources/${other}/acquire`, { capacity: 100 });
  assert.equal(first.status, 201);
  assert.equal(second.status, 201);

  // Visibility trails the starts by a moment, so the listing is polled briefly.
  let view: any;
  for (let attempt = 0; attempt < 40; attempt++) {
    view = (await service.call('GET', `/resources/${resource}`)).body;
    if (view.held.length >= 2) break;
    await delay(100);
  }
  assert.equal(view.consistency, 'eventual');
  assert.equal(view.capacity, 100);
  assert.deepEqual(
    view.held.map((permit: any) => permit.runId).sort(),
    [first.body.runId, second.body.runId].sort(),
  );
  // In slot order, with the slots the two acquires were given.
  assert.deepEqual(
    view.held.map((permit: any) => permit.slot),
    [first.body.slot, second.body.slot].sort((a: number, b: number) => a - b),
  );

  await service.call('DELETE', `/permits/${first.body.runId}`);
  for (let attempt = 0; attempt < 40; attempt++) {
    view = (await service.call('GET', `/resources/${resource}`)).body;
    if (view.held.length === 1) break;
    await delay(100);
  }
  assert.deepEqual(view.held.map((permit: any) => permit.runId), [second.body.runId]);
});

test('an unconfigured resource that nobody holds reports capacity 1 and no holders', async (t) => {
  const service = await startTestService(t);
  const view = await service.call('GET', `/resources/${uniqueResource('idle')}`);
  assert.equal(view.status, 200);
  assert.deepEqual({ capacity: view.body.capacity, held: view.body.held }, { capacity: 1, held: [] });
});
