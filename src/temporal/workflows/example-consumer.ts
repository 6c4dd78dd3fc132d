import { continueAsNew, sleep } from '@temporalio/workflow';
import { Semaphore, isWaitBudgetSpent } from './semaphore.js';

export interface ExampleConsumerInput {
  resource: string;
  capacity: number;
  workMs: number;
  holder: string;
  /** Passed on to the Semaphore; the default (10,000 events) suits real use, tests pass less. */
  waitHistoryBudget?: number;
}

export interface ExampleConsumerResult {
  slot: number;
  runId: string;
  fencingSeq: string | undefined;
  acquiredAt: string;
  releasedAt: string;
}

/** A workflow that needs a scarce resource: it waits for a permit, works while holding it, then releases it. */
export async function exampleConsumerWorkflow(input: ExampleConsumerInput): Promise<ExampleConsumerResult> {
  const semaphore = new Semaphore(input.resource, {
    capacity: input.capacity,
    holder: input.holder,
    leaseMs: Math.max(30_000, input.workMs * 2),
    ...(input.waitHistoryBudget !== undefined && { waitHistoryBudget: input.waitHistoryBudget }),
  });
  try {
    return await semaphore.withPermit(async (permit) => {
      const acquiredAt = new Date().toISOString();
      await sleep(input.workMs);
      return { slot: permit.slot, runId: permit.runId, fencingSeq: permit.fencingSeq, acquiredAt, releasedAt: new Date().toISOString() };
    });
  } catch (error) {
    // The wait filled this run's history budget and no permit is held: wait on in a new run.
    if (isWaitBudgetSpent(error)) return await continueAsNew<typeof exampleConsumerWorkflow>(input);
    throw error;
  }
}
