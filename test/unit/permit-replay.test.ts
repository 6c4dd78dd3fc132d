import fs from 'node:fs/promises';
import { test } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowsPath } from '../../src/temporal/worker.js';

// A permit run outlives a deployment: the new worker replays histories the previous code wrote.
// The fixture is a run made by the code before the lazy lease timer (commit b1b5686): acquired,
// renewed three times (each renewal cancelled and restarted its timer), released by signal.

const FIXTURE = new URL('../fixtures/permit-history-before-lazy-lease-timer.json', import.meta.url);

test('a permit run started by the previous workflow code replays under the current code', async () => {
  // Decoded here rather than by the SDK's historyFromJSON, which trips over a second copy of protobufjs in this install.
  const history = proto.temporal.api.history.v1.History.fromObject(JSON.parse(await fs.readFile(FIXTURE, 'utf8')));
  const bundlePath = process.env.LOCK_TEST_WORKFLOW_BUNDLE;
  await Worker.runReplayHistory(bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath: workflowsPath() }, history);
});
