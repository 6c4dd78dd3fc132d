import { setTimeout as sleep } from 'node:timers/promises';
import type { TestService } from './service.js';

/** The value of one Prometheus sample from the service's /metrics, 0 when absent. */
export async function metric(service: Pick<TestService, 'call'>, sample: string): Promise<number> {
  const text = String((await service.call('GET', '/metrics')).body);
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Waits until the condition holds (checked every 20 ms), or fails naming what did not happen. */
export async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(20);
  }
}

/** Waits until `count` acquires wait on this replica (the lock_waiters gauge). */
export function untilWaiting(service: Pick<TestService, 'call'>, count: number, timeoutMs?: number): Promise<void> {
  return until(async () => (await metric(service, 'lock_waiters')) === count, `${count} acquire(s) wait`, timeoutMs);
}
