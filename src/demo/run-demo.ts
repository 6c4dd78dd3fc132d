import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ExampleConsumerResult, exampleConsumerWorkflow } from '../temporal/workflows/example-consumer.js';
import { formatSeconds, type ConsumerKind, type Timeline } from './timeline.js';

export interface DemoOptions {
  /** Base URL of a listening lock service. */
  url: string;
  /** A client of the Temporal server that service uses; workflow consumers are started with it. */
  client: Client;
  /** The service worker's task queue, which also runs exampleConsumerWorkflow. */
  taskQueue: string;
  resource: string;
  capacity: number;
  httpConsumers: number;
  workflowConsumers: number;
  /** Each consumer holds its permit for a random time in this range. */
  holdMs: { min: number; max: number };
  /** The service's MAX_WAIT_MS; an acquire may not ask to wait longer. */
  maxWaitMs: number;
  /** Consumers not served by then count as failures. */
  timeoutMs: number;
  /** Makes workflow IDs unique per run. */
  runTag: string;
  timeline: Timeline;
  /** Aborted on Ctrl-C: consumers give back what they hold and stop. */
  signal?: AbortSignal;
}

export interface DemoReport {
  consumers: number;
  served: number;
  failures: Array<{ consumer: string; reason: string }>;
  maxHolders: number;
  maxHoldersAtMs: number;
  maxHolderNames: string[];
  samples: number;
  sampleErrors: number;
  lastSampleError: string | undefined;
  totalMs: number;
  ok: boolean;
}

/**
 * Workflow consumers cannot report to this process while they run, so the sampler shows their
 * permits appearing and disappearing; the flags keep each to one line when the result comes in too.
 */
interface Consumer {
  name: string;
  kind: ConsumerKind;
  startedAtMs: number;
  acquiredShown: boolean;
  releasedShown: boolean;
  /** The permit the sampler saw this consumer holding, and when. */
  seen?: { runId: string; slot: number; atMs: number };
  finished: boolean;
}

interface HeldPermitView {
  runId: string;
  slot: number;
  holder: string | null;
}

const LEASE_MS = 30_000;
const SAMPLE_EVERY_MS = 100;
const REQUEST_TIMEOUT_MS = 10_000;

const randomBetween = (min: number, max: number) => Math.round(min + Math.random() * (max - min));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the demo reads loosely typed JSON answers
async function readJson(response: Response): Promise<any> {
  const text = await response.text();
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return { error: 'not_json', message: text.slice(0, 200) };
  }
}

/**
 * Polls the resource view and keeps the largest number of holders seen in one sample.
 * It asks about more slots than the capacity: a view of slots 0..capacity-1 could never show more
 * than capacity holders, so only a wider view can catch a permit that should not exist.
 */
class HolderSampler {
  maxHolders = 0;
  maxHoldersAtMs = 0;
  maxHolderNames: string[] = [];
  samples = 0;
  errors = 0;
  lastError: string | undefined;

  constructor(
    private readonly url: string,
    private readonly window: number,
    private readonly timeline: Timeline,
    private readonly onSample: (held: HeldPermitView[]) => void,
  ) {}

  async run(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const started = Date.now();
      try {
        const response = await fetch(`${this.url}?capacity=${this.window}`, {
          signal: AbortSignal.any([stop, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        });
        const body = await readJson(response);
        if (response.status !== 200) throw new Error(`GET answered ${response.status} ${body?.error}: ${body?.message}`);
        this.record(body.held as HeldPermitView[], started);
      } catch (error) {
        if (stop.aborted) break;
        this.errors += 1;
        this.lastError = (error as Error).message;
      }
      await sleep(Math.max(0, SAMPLE_EVERY_MS - (Date.now() - started)), undefined, { signal: stop }).catch(() => {});
    }
  }

  private record(held: HeldPermitView[], sampledAtMs: number): void {
    this.samples += 1;
    if (held.length > this.maxHolders) {
      this.maxHolders = held.length;
      this.maxHoldersAtMs = this.timeline.elapsedMs(sampledAtMs);
      this.maxHolderNames = held.map((permit) => `${permit.holder ?? '?'}@${permit.slot}`);
    }
    this.onSample(held);
  }
}

/** Acquires over HTTP (waiting server-side), holds, releases with DELETE, as any non-JS client would. */
async function runHttpConsumer(consumer: Consumer, options: DemoOptions, signal: AbortSignal): Promise<void> {
  const { url, resource, capacity, timeline } = options;
  const holdMs = randomBetween(options.holdMs.min, options.holdMs.max);
  let permit: { runId: string; slot: number } | undefined;
  while (!permit) {
    const waitMs = Math.min(30_000, options.maxWaitMs);
    const response = await fetch(`${url}/resources/${resource}/acquire`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capacity, waitMs, holder: consumer.name, leaseMs: LEASE_MS }),
      signal,
    });
    const body = await readJson(response);
    if (response.status === 201) {
      permit = body;
    } else if (response.status === 409 && body?.error === 'resource_busy') {
      timeline.event('busy', consumer.name, consumer.kind, undefined, `no slot within ${waitMs} ms, asking again`);
      if (waitMs === 0) await sleep(200, undefined, { signal });
    } else {
      throw new Error(`acquire answered ${response.status} ${body?.error}: ${body?.message}`);
    }
  }

  const acquiredAtMs = Date.now();
  consumer.acquiredShown = true;
  timeline.event('acquired', consumer.name, consumer.kind, permit.slot, `waited ${formatSeconds(acquiredAtMs - consumer.startedAtMs)}`);
  let released = false;
  try {
    await sleep(holdMs, undefined, { signal });
    const response = await fetch(`${url}/permits/${permit.runId}`, {
      method: 'DELETE',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (response.status !== 204) {
      const body = await readJson(response);
      throw new Error(`release answered ${response.status} ${body?.error}: ${body?.message}`);
    }
    released = true;
    timeline.event('released', consumer.name, consumer.kind, permit.slot, `held ${formatSeconds(Date.now() - acquiredAtMs)}`);
  } finally {
    // Interrupted while holding: give the slot back now rather than leave it to the lease.
    if (!released && signal.aborted) {
      await fetch(`${url}/permits/${permit.runId}`, { method: 'DELETE', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).catch(
        () => {},
      );
    }
  }
}

/** Starts exampleConsumerWorkflow, which acquires through the workflow-side Semaphore, and waits for it to finish. */
async function runWorkflowConsumer(consumer: Consumer, options: DemoOptions, signal: AbortSignal): Promise<void> {
  const { client, taskQueue, resource, capacity, timeline, runTag } = options;
  const workMs = randomBetween(options.holdMs.min, options.holdMs.max);
  const handle: WorkflowHandle<typeof exampleConsumerWorkflow> = await client.workflow.start<typeof exampleConsumerWorkflow>(
    'exampleConsumerWorkflow',
    {
      taskQueue,
      workflowId: `demo-consumer:${runTag}:${consumer.name}`,
      args: [{ resource, capacity, workMs, holder: consumer.name }],
      // Backstop for a demo killed outright: the consumer, and with it its child permit, cannot outlive this.
      workflowExecutionTimeout: options.timeoutMs + 60_000,
    },
  );
  // Terminating the consumer also terminates its permit (ParentClosePolicy TERMINATE).
  const onAbort = () => void handle.terminate('demo interrupted').catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  let result: ExampleConsumerResult;
  try {
    result = await handle.result();
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const heldMs = formatSeconds(Date.parse(result.releasedAt) - Date.parse(result.acquiredAt));
  if (!consumer.acquiredShown) {
    // Held between two samples: the workflow's own report is the only sighting.
    consumer.acquiredShown = true;
    timeline.event('acquired', consumer.name, consumer.kind, result.slot, 'reported by the workflow when done');
  }
  if (!consumer.releasedShown) {
    consumer.releasedShown = true;
    timeline.event('released', consumer.name, consumer.kind, result.slot, `held ${heldMs}`);
  }
}

/** Turns what the sampler sees into acquired/released lines for the workflow consumers. */
function showWorkflowPermits(held: HeldPermitView[], consumers: Map<string, Consumer>, timeline: Timeline): void {
  const now = Date.now();
  for (const permit of held) {
    const consumer = permit.holder ? consumers.get(permit.holder) : undefined;
    if (consumer?.kind !== 'workflow' || consumer.acquiredShown || consumer.finished) continue;
    consumer.acquiredShown = true;
    consumer.seen = { runId: permit.runId, slot: permit.slot, atMs: now };
    timeline.event('acquired', consumer.name, consumer.kind, permit.slot, `waited ${formatSeconds(now - consumer.startedAtMs)}`);
  }
  const present = new Set(held.map((permit) => permit.runId));
  for (const consumer of consumers.values()) {
    if (!consumer.seen || consumer.releasedShown || present.has(consumer.seen.runId)) continue;
    consumer.releasedShown = true;
    timeline.event('released', consumer.name, consumer.kind, consumer.seen.slot, `held ${formatSeconds(now - consumer.seen.atMs)}`);
  }
}

/** Runs the HTTP and workflow consumers against one capacity-limited resource while sampling its holders. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const { timeline } = options;
  const consumer = (kind: ConsumerKind, n: number): Consumer => ({
    name: `${kind}-consumer-${n}`,
    kind,
    startedAtMs: 0,
    acquiredShown: false,
    releasedShown: false,
    finished: false,
  });
  const consumers: Consumer[] = [];
  // Interleaved, so neither kind gets a head start from being launched first.
  for (let n = 1; n <= Math.max(options.httpConsumers, options.workflowConsumers); n++) {
    if (n <= options.httpConsumers) consumers.push(consumer('http', n));
    if (n <= options.workflowConsumers) consumers.push(consumer('workflow', n));
  }
  const byName = new Map(consumers.map((consumer) => [consumer.name, consumer]));

  const resourceUrl = `${options.url}/resources/${options.resource}`;
  const sampler = new HolderSampler(resourceUrl, Math.max(options.capacity, consumers.length), timeline, (held) =>
    showWorkflowPermits(held, byName, timeline),
  );
  const stopSampling = new AbortController();
  const sampling = sampler.run(stopSampling.signal);

  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const failures: DemoReport['failures'] = [];
  const startedAtMs = Date.now();
  await Promise.all(
    consumers.map(async (consumer) => {
      consumer.startedAtMs = Date.now();
      try {
        await (consumer.kind === 'http' ? runHttpConsumer : runWorkflowConsumer)(consumer, options, signal);
      } catch (error) {
        const reason = deadline.aborted
          ? `not served within ${formatSeconds(options.timeoutMs)}`
          : signal.aborted
            ? 'interrupted'
            : (error as Error).message;
        failures.push({ consumer: consumer.name, reason });
        timeline.event('failed', consumer.name, consumer.kind, undefined, reason);
      } finally {
        consumer.finished = true;
      }
    }),
  );
  const totalMs = Date.now() - startedAtMs;
  stopSampling.abort();
  await sampling;

  const served = consumers.length - failures.length;
  return {
    consumers: consumers.length,
    served,
    failures,
    maxHolders: sampler.maxHolders,
    maxHoldersAtMs: sampler.maxHoldersAtMs,
    maxHolderNames: sampler.maxHolderNames,
    samples: sampler.samples,
    sampleErrors: sampler.errors,
    lastSampleError: sampler.lastError,
    totalMs,
    // Without samples the bound was never checked, which is not a pass.
    ok: served === consumers.length && sampler.samples > 0 && sampler.maxHolders <= options.capacity,
  };
}
