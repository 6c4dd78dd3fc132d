import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import {
  compareFencingSeq,
  LockClient,
  LockServiceError,
  LockServiceUnreachableError,
  PermitLostError,
  type Permit,
  type ResourceView,
} from '../../packages/client/src/client/index.js';
import { FENCING_SEQ_PATTERN } from '../../packages/client/src/wire/schemas.js';
import { loadScenarios, startConformanceHarness, type ConformanceHarness, type Scenario, type Step } from '../helpers/conformance-harness.js';
import { until } from '../helpers/metrics.js';
import { http } from '../helpers/process.js';

// The shared conformance scenarios (clients/conformance), run by the TypeScript client: the same
// steps the Python and Go clients run, against a live service behind the fault proxy (and the
// further services scenarios.json describes).

/** What a step whose `key` the service does not have sends. */
const UNKNOWN_KEY = 'lsk_unknown-to-this-service';

class WorkFailed extends Error {}

interface Hold {
  permit: Permit;
  lostAt?: number;
  lost?: PermitLostError;
  lostSeen: Promise<void>;
  end(fail: boolean): void;
  result: Promise<unknown>;
  failure?: WorkFailed;
}

async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function lockWaiters(url: string): Promise<number> {
  const text = String((await http('GET', `${url}/metrics`)).body);
  const line = text.split('\n').find((candidate) => candidate.startsWith('lock_waiters '));
  return line ? Number(line.slice('lock_waiters '.length)) : 0;
}

function checkError(error: unknown, expected: Record<string, unknown>, where: string): void {
  if (expected.unreachable) {
    assert.ok(error instanceof LockServiceUnreachableError, `${where}: expected LockServiceUnreachableError, got ${String(error)}`);
    return;
  }
  assert.ok(error instanceof LockServiceError, `${where}: expected LockServiceError, got ${String(error)}`);
  if ('code' in expected) assert.equal(error.code, expected.code, `${where}: ${error.message}`);
  if ('status' in expected) assert.equal(error.status, expected.status, where);
  if ('state' in expected) assert.equal(error.state, expected.state, where);
  if ('capacity' in expected) assert.equal(error.capacity, expected.capacity, where);
  if ('keyRefused' in expected) assert.equal(error.keyRefused, expected.keyRefused, where);
  if (expected.retryAfter) assert.ok(error.retryAfterSeconds !== undefined && error.retryAfterSeconds >= 0, `${where}: no retryAfterSeconds`);
  if ('messageIncludes' in expected) assert.ok(error.message.includes(String(expected.messageIncludes)), `${where}: ${error.message}`);
}

async function runScenario(t: TestContext, harness: ConformanceHarness, scenario: Scenario): Promise<void> {
  const service = scenario.service === undefined ? { url: harness.url, keys: {} } : harness.services[scenario.service];
  assert.ok(service, `no service ${scenario.service} in scenarios.json`);
  const clients = new Map<string, LockClient>();
  /** The client a step talks through: its service, key, CA file and timeout; the same one for the same settings. */
  const clientFor = async (step: Step): Promise<LockClient> => {
    const keyName = (step.key === undefined ? scenario.key : step.key) as string | null | undefined;
    const options = {
      url: step.via === 'closedPort' ? await closedPortUrl() : service.url,
      apiKey: keyName ? (service.keys[keyName] ?? UNKNOWN_KEY) : undefined,
      caFile: step.caFile === false ? undefined : service.caFile,
      timeoutMs: step.timeoutMs as number | undefined,
    };
    const id = JSON.stringify(options);
    if (!clients.has(id)) clients.set(id, new LockClient(options));
    return clients.get(id)!;
  };
  const client = await clientFor({ do: 'default' });
  const resources = new Map<string, string>();
  const saved = new Map<string, Permit>();
  const background = new Map<string, Promise<Permit>>();
  const holds = new Map<string, Hold>();
  let stalledAt: number | undefined;

  const resource = (name: string) => {
    if (name.startsWith('literal:')) return name.slice('literal:'.length);
    if (!resources.has(name)) resources.set(name, `conf-ts-${name}-${randomUUID().slice(0, 8)}`);
    return resources.get(name)!;
  };
  /** A saved permit, or the permit of a hold. */
  const permitNamed = (name: string): Permit => holds.get(name)?.permit ?? saved.get(name)!;
  const runId = (step: Step): string => (step.runId as string | undefined) ?? permitNamed(step.permit).runId;
  const acquire = async (step: Step) =>
    (await clientFor(step)).acquire(resource(step.resource), { leaseMs: step.leaseMs, waitMs: step.waitMs ?? 0, capacity: step.capacity });

  const calmNetwork = { delayMs: 0, stalled: false, upstream: null };
  harness.network(calmNetwork);
  t.after(() => {
    harness.network(calmNetwork);
    for (const hold of holds.values()) hold.end(false);
  });
  // A scenario that removes keys puts them back even when it fails, so later scenarios have them.
  if (scenario.steps.some((step) => step.do === 'keys')) t.after(() => harness.keys(scenario.service!, []));
  for (const [index, step] of scenario.steps.entries()) {
    const where = `step ${index + 1} (${step.do})`;
    const previous = step.save ? saved.get(step.save) : undefined;
    let result: unknown;
    try {
      switch (step.do) {
        case 'acquire':
          if (step.background) {
            const pending = acquire(step);
            pending.catch(() => undefined); // awaited by the `await` step
            background.set(step.background, pending);
            continue;
          }
          result = await acquire(step);
          break;
        case 'await':
          result = await background.get(step.background)!;
          break;
        case 'release':
          await (await clientFor(step)).release(runId(step));
          break;
        case 'renew':
          result = await (await clientFor(step)).renew(runId(step), { leaseMs: step.leaseMs });
          break;
        case 'status':
          result = await (await clientFor(step)).status(runId(step));
          break;
        case 'holders':
          result = await (await clientFor(step)).holders(resource(step.resource));
          break;
        case 'untilWaiting':
          await until(async () => (await lockWaiters(harness.url)) === step.count, `${step.count} acquire(s) wait`);
          break;
        case 'network':
          harness.network(step);
          if (step.stalled === true) stalledAt = Date.now();
          break;
        case 'keys':
          assert.ok(scenario.service, `${where}: a keys step needs the scenario's service`);
          await harness.keys(scenario.service, step.without as string[]);
          break;
        case 'hold': {
          let ended!: (fail: boolean) => void;
          const endSignal = new Promise<boolean>((resolve) => (ended = resolve));
          let entered!: (permit: Permit) => void;
          const enteredWith = new Promise<Permit>((resolve) => (entered = resolve));
          let seen!: () => void;
          const hold: Partial<Hold> = { lostSeen: new Promise<void>((resolve) => (seen = resolve)), end: (fail) => ended(fail) };
          hold.result = client.withPermit(
            resource(step.resource),
            async ({ permit, signal }) => {
              signal.addEventListener('abort', () => {
                hold.lostAt = Date.now();
                hold.lost = signal.reason as PermitLostError;
                seen();
              });
              entered(permit);
              if (await endSignal) throw (hold.failure = new WorkFailed('the work failed'));
            },
            { leaseMs: step.leaseMs, renewEveryMs: step.renewEveryMs },
          );
          hold.result.catch(() => undefined); // awaited by the `endHold` step
          hold.permit = await Promise.race([enteredWith, hold.result.then(() => assert.fail(`${where}: the hold ended at once`))]);
          holds.set(step.name, hold as Hold);
          break;
        }
        case 'untilLost': {
          const hold = holds.get(step.hold)!;
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${where}: the loss was not noticed within ${step.withinMs} ms`)), step.withinMs);
          });
          await Promise.race([hold.lostSeen, late]).finally(() => clearTimeout(timer));
          assert.ok(hold.lost instanceof PermitLostError, `${where}: lost with ${String(hold.lost)}`);
          assert.equal(hold.lost.reason, step.reason, where);
          if (step.beforeLeaseEndMs !== undefined) {
            const lateMs = hold.lostAt! - stalledAt! - step.beforeLeaseEndMs;
            assert.ok(lateMs <= 0, `${where}: the loss was noticed ${lateMs} ms after the lease had surely ended`);
          }
          break;
        }
        case 'endHold': {
          const hold = holds.get(step.hold)!;
          hold.end(Boolean(step.fail));
          holds.delete(step.hold);
          saved.set(step.hold, hold.permit);
          if (step.fail) await assert.rejects(hold.result, (error) => error === hold.failure, where);
          else await hold.result;
          break;
        }
        default:
          assert.fail(`${where}: unknown step`);
      }
    } catch (error) {
      if (error instanceof assert.AssertionError || !step.expectError) throw error;
      checkError(error, step.expectError, where);
      continue;
    }
    assert.equal(step.expectError, undefined, `${where}: expected ${JSON.stringify(step.expectError)}, got ${JSON.stringify(result)}`);
    const expect = step.expect as Record<string, any> | undefined;
    if (expect && 'held' in expect) {
      const { held } = result as ResourceView;
      const shown = held.flatMap((permit) => (permit.runId === undefined ? [] : [permit.runId])).sort();
      assert.deepEqual(shown, (expect.held as string[]).map((name) => saved.get(name)!.runId).sort(), where);
      assert.equal(held.length - shown.length, expect.hidden ?? 0, `${where}: permits shown without their token`);
    }
    const permit = result as Permit & { state?: string };
    if (expect?.state) assert.equal(permit.state, expect.state, where);
    if (expect?.fencingSeq) assert.match(permit.fencingSeq, FENCING_SEQ_PATTERN, where);
    if (expect?.sameFencingSeq) assert.equal(permit.fencingSeq, permitNamed(expect.sameFencingSeq).fencingSeq, where);
    if (expect?.fencingSeqAbove) {
      const earlier = permitNamed(expect.fencingSeqAbove).fencingSeq;
      assert.ok(compareFencingSeq(permit.fencingSeq, earlier) > 0, `${where}: fencingSeq ${permit.fencingSeq} is not above ${earlier}`);
    }
    if (expect?.extendedByAtLeastMs !== undefined) {
      const extendedMs = Date.parse(permit.expiresAt) - Date.parse(previous!.expiresAt);
      assert.ok(extendedMs >= expect.extendedByAtLeastMs, `${where}: extended by only ${extendedMs} ms`);
    }
    if (expect?.sameExpiresAt) assert.equal(permit.expiresAt, saved.get(expect.sameExpiresAt)!.expiresAt, where);
    if (expect?.leaseClock) {
      const from = client.leaseCountedFrom(permit) ?? (await clientFor(step)).leaseCountedFrom(permit);
      assert.ok(from !== undefined, `${where}: the client does not count this lease`);
      const earlyMs = Date.parse(permit.expiresAt) - (from + permit.leaseMs);
      assert.ok(earlyMs >= 0, `${where}: the client counts the lease ${-earlyMs} ms past the service's expiresAt`);
      assert.ok(earlyMs <= expect.leaseClock.maxEarlyMs, `${where}: the client counts the lease ${earlyMs} ms short`);
    }
    if (step.save) saved.set(step.save, permit);
  }
}

test('the TypeScript client passes every conformance scenario against a live service', async (t) => {
  const harness = await startConformanceHarness(t);
  for (const scenario of await loadScenarios()) {
    await t.test(scenario.name, async (t) => {
      await runScenario(t, harness, scenario);
    });
  }
});
