import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cpuMeter, perGrant } from '../../bench/cpu.js';
import { throttleConfiguration } from '../../bench/peers/throttle.js';
import { parseOptions, UsageError } from '../../bench/plan.js';
import { growthByOperation, isWrite } from '../../bench/server-metrics.js';
import { parseMetrics } from '../../bench/service-metrics.js';

test('the CPU meter reads this process before and after, and gives nothing for a process that does not exist', async () => {
  const meter = await cpuMeter({ self: process.pid, gone: 2 ** 30 });
  const started = performance.now();
  // Spin long enough to cross a few of Linux's 10 ms ticks.
  while (performance.now() - started < 60) Math.sqrt(Math.random());
  const used = await meter();
  assert.ok(used.self !== undefined && used.self >= 10, `this process used ${used.self} ms while spinning 60 ms`);
  assert.equal(used.gone, undefined);
  assert.equal(perGrant(used.gone, 10), undefined);
  assert.equal(perGrant(90, 0), undefined);
  assert.equal(perGrant(90, 30), 3);
});

test('--service-env and --compare-env collect their values, and such a run never stands for the defaults', () => {
  const options = parseOptions(['--service-env', 'PERMIT_START_DELAY=none', '--compare-env=TEMPORAL_EAGER_START=true', '--compare-env', 'LOG_LEVEL=info']);
  assert.deepEqual(options.serviceEnv, { PERMIT_START_DELAY: 'none' });
  assert.deepEqual(options.compareEnv, { TEMPORAL_EAGER_START: 'true', LOG_LEVEL: 'info' });
  assert.equal(options.complete, false);
  assert.equal(parseOptions(['--compare-env', 'A=1']).complete, false);
  assert.equal(parseOptions([]).complete, true);
  assert.throws(() => parseOptions(['--service-env', 'NOEQUALS']), UsageError);
  assert.throws(() => parseOptions(['--quick=yes']), /--quick takes no value/);
  assert.ok(parseOptions(['--only', 'throughput,anatomy,throttle']).phases.has('cycle'), 'the baseline always runs');
});

test("Throttle's configuration declares every semaphore with its count, names quoted", () => {
  assert.equal(throttleConfiguration({ 'bench-throttle-cycle': 1, 'a "b"': 3 }), '[semaphores]\n"bench-throttle-cycle" = 1\n"a \\"b\\"" = 3\n');
});

test("the server's counters grow by operation, over the label sets of one service or all, and writes are told from reads", () => {
  const before = parseMetrics(
    [
      'persistence_requests{namespace="default",operation="CreateWorkflowExecution",service_name="history"} 4',
      'persistence_requests{namespace="default",operation="GetWorkflowExecution",service_name="history"} 10',
      'service_requests{namespace="default",operation="StartWorkflowExecution",service_name="frontend"} 4',
      'service_requests{namespace="default",operation="StartWorkflowExecution",service_name="history"} 4',
    ].join('\n'),
  );
  const after = parseMetrics(
    [
      'persistence_requests{namespace="default",operation="CreateWorkflowExecution",service_name="history"} 9',
      'persistence_requests{namespace="temporal_system",operation="CreateWorkflowExecution",service_name="history"} 1',
      'persistence_requests{namespace="default",operation="GetWorkflowExecution",service_name="history"} 10',
      'service_requests{namespace="default",operation="StartWorkflowExecution",service_name="frontend"} 9',
      'service_requests{namespace="default",operation="StartWorkflowExecution",service_name="history"} 9',
    ].join('\n'),
  );
  assert.deepEqual(growthByOperation(before, after, 'persistence_requests'), { CreateWorkflowExecution: 6 });
  assert.deepEqual(growthByOperation(before, after, 'service_requests', 'frontend'), { StartWorkflowExecution: 5 });
  assert.deepEqual(growthByOperation(undefined, after, 'service_requests'), {});
  assert.ok(isWrite('CreateWorkflowExecution') && isWrite('UpdateWorkflowExecution') && isWrite('RangeCompleteTimerTasks'));
  assert.ok(!isWrite('GetWorkflowExecution') && !isWrite('ReadHistoryBranch') && !isWrite('ListNamespaces'));
});
