import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as production from '../../src/temporal/workflows/index.js';
import * as withExamples from '../../src/temporal/workflows/with-examples.js';
import { workflowsPath } from '../../src/temporal/worker.js';

test('the production worker bundles the permit workflow only; the demo and the tests add the example consumer', () => {
  assert.deepEqual(Object.keys(production).sort(), ['permitWorkflow']);
  assert.deepEqual(Object.keys(withExamples).sort(), ['exampleConsumerWorkflow', 'permitWorkflow']);
  assert.match(workflowsPath(), /workflows[\\/]index\.ts$/);
  assert.match(workflowsPath({ withExamples: true }), /workflows[\\/]with-examples\.ts$/);
});
