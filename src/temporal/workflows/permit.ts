import { ApplicationFailure, condition, patched, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import {
  LEASE_EXPIRED,
  MAX_HOLD_EXCEEDED,
  RENEWAL_LIMIT,
  releaseSignal,
  renewUpdate,
  type PermitOutcome,
  type PermitWorkflowInput,
} from '../messages.js';

/**
 * Runs started before this patch cancel and restart their lease timer on every renewal; the marker
 * keeps them doing so, so their histories still replay.
 */
const LAZY_LEASE_TIMER_PATCH = 'lazy-lease-timer';

/**
 * Whether a renewal must move the armed lease timer now. Moving it costs two history events (timer
 * cancelled, timer started); a timer left behind costs five when it fires (fired, a workflow task,
 * started again). A holder renews well before its lease ends, so while the armed timer is more than
 * half a lease away the next renewal can move it, and most renewals move nothing. A shorter lease
 * must always move it: the timer may fire before the lease ends, never after.
 */
function mustRearm(timerDueMs: number, expiresAtMs: number, nowMs: number, leaseMs: number): boolean {
  return expiresAtMs < timerDueMs || timerDueMs - nowMs <= leaseMs / 2;
}

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
  /** When the armed lease timer fires: at or before the end of the lease, never after. */
  let timerDueMs = expiresAtMs;
  let renewals = 0;
  let released = false;
  const rearmLazily = patched(LAZY_LEASE_TIMER_PATCH);

  setHandler(releaseSignal, () => {
    released = true;
  });

  setHandler(
    renewUpdate,
    ({ leaseMs = input.leaseMs }) => {
      const nowMs = Date.now();
      expiresAtMs = nowMs + leaseMs;
      renewals++;
      if (!rearmLazily || mustRearm(timerDueMs, expiresAtMs, nowMs, leaseMs)) timerDueMs = expiresAtMs;
      const expiresAt = new Date(expiresAtMs).toISOString();
      upsertMemo({ leaseMs, expiresAt, renewals });
      return { leaseMs, expiresAt };
    },
    {
      // Validators do not run on replay, so the limits they apply may change between deployments.
      // Runs started before the renewal limit existed have no maxRenewals or historyBudget in their
      // input; a comparison with undefined is false, so those runs keep renewing as before.
      validator: ({ leaseMs = input.leaseMs }) => {
        const now = Date.now();
        if (released || now >= expiresAtMs) {
          throw ApplicationFailure.nonRetryable('the lease has already ended', LEASE_EXPIRED);
        }
        const leaseEnd = new Date(expiresAtMs).toISOString();
        if (renewals >= input.maxRenewals) {
          throw ApplicationFailure.nonRetryable(
            `this permit has been renewed ${renewals} time${renewals === 1 ? '' : 's'}, the most one permit allows (MAX_RENEWALS ${input.maxRenewals}); ` +
              `it stays held until its lease ends at ${leaseEnd}; acquire a new permit to go on`,
            RENEWAL_LIMIT,
          );
        }
        const { historyLength } = workflowInfo();
        if (historyLength >= input.historyBudget) {
          throw ApplicationFailure.nonRetryable(
            `this permit's run has ${historyLength} history events, near the most Temporal keeps for one run; ` +
              `it stays held until its lease ends at ${leaseEnd}; acquire a new permit to go on`,
            RENEWAL_LIMIT,
          );
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
    const nowMs = Date.now();
    if (nowMs >= expiresAtMs) return finish('expired');
    // A timer that fired before the lease ended (a renewal moved the lease but not the timer) is re-armed here.
    timerDueMs = expiresAtMs;
    const armedFor = timerDueMs;
    await condition(() => released || timerDueMs !== armedFor, armedFor - nowMs);
  }
}
