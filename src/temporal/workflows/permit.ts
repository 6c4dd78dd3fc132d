import { ApplicationFailure, condition, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import {
  LEASE_EXPIRED,
  MAX_HOLD_EXCEEDED,
  releaseSignal,
  renewUpdate,
  type PermitOutcome,
  type PermitWorkflowInput,
} from '../messages.js';

/**
 * One run per held permit: the run's existence is the claim on slot `permit:<resource>:<slot>`.
 * It completes when released or when its lease runs out; HTTP holders release by terminating it.
 */
export async function permitWorkflow(input: PermitWorkflowInput): Promise<PermitOutcome> {
  // The lease counts from the run's start on the server (its WorkflowExecutionStarted event), not
  // from when a worker first ran it: `runStartTime` is the first workflow task's time, which comes
  // later (after the start delay, or a worker backlog) and would stretch the lease past what the
  // service reported. A run is never continued-as-new, so the chain's start is this run's start.
  const startedAtMs = workflowInfo().startTime.getTime();
  const holdDeadlineMs = startedAtMs + input.maxHoldMs;
  let expiresAtMs = startedAtMs + input.leaseMs;
  let released = false;

  setHandler(releaseSignal, () => {
    released = true;
  });

  setHandler(
    renewUpdate,
    ({ leaseMs = input.leaseMs }) => {
      expiresAtMs = Date.now() + leaseMs;
      const expiresAt = new Date(expiresAtMs).toISOString();
      upsertMemo({ leaseMs, expiresAt });
      return { leaseMs, expiresAt };
    },
    {
      validator: ({ leaseMs = input.leaseMs }) => {
        const now = Date.now();
        if (released || now >= expiresAtMs) {
          throw ApplicationFailure.nonRetryable('the lease has already ended', LEASE_EXPIRED);
        }
        if (now + leaseMs > holdDeadlineMs) {
          const remainingMs = holdDeadlineMs - now;
          throw ApplicationFailure.nonRetryable(
            `a permit is held for at most ${input.maxHoldMs} ms in all; at most ${remainingMs} ms remain, so leaseMs ${leaseMs} is too long`,
            MAX_HOLD_EXCEEDED,
          );
        }
      },
    },
  );

  const finish = (outcome: PermitOutcome): PermitOutcome => {
    upsertMemo({ outcome });
    return outcome;
  };

  for (;;) {
    if (released) return finish('released');
    const remainingMs = expiresAtMs - Date.now();
    if (remainingMs <= 0) return finish('expired');
    const leaseSeen = expiresAtMs;
    await condition(() => released || expiresAtMs !== leaseSeen, remainingMs);
  }
}
