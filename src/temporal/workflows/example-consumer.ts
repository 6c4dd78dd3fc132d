import { sleep } from '@temporalio/workflow';
import { Semaphore } from './semaphore.js';

export interface ExampleConsumerInput {
  resource: string;
  capacity: number;
  workMs: number;
  holder: string;
}

export interface ExampleConsumerResult {
  slot: number;
  runId: string;
  acquiredAt: string;
  releasedAt: string;
}

/** A workflow that needs a scarce resource: it waits for a permit, works while holding it, then releases it. */
export async function exampleConsumerWorkflow(input: ExampleConsumerInput): Promise<ExampleConsumerResult> {
  const semaphore = new Semaphore(input.resource, {
    capacity: input.capacity,
    holder: input.holder,
    leaseMs: Math.max(30_000, input.workMs * 2),
  });
  return semaphore.withPermit(async (permit) => {
    const acquiredAt = new Date().toISOString();
    await sleep(input.workMs);
    return { slot: permit.slot, runId: permit.runId, acquiredAt, releasedAt: new Date().toISOString() };
  });
}
