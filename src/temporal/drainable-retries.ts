import { setTimeout as delay } from 'node:timers/promises';
import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';

/**
 * The SDK's retries of failed calls (UNAVAILABLE and the like, with back-off), plus a drain for
 * shutdown. The SDK schedules each retry on a timer that nothing cancels, so a retry that fires after
 * its connection was closed calls into the closed channel and throws, uncaught. Draining stops new
 * retries and waits until the ones already scheduled have fired, against a connection still open.
 */
export class DrainableRetries {
  private draining = false;
  /** When the last retry scheduled so far fires. */
  private quietAt = 0;
  readonly interceptors: NonNullable<ConnectionOptions['interceptors']>;

  constructor() {
    const defaults = defaultGrpcRetryOptions();
    this.interceptors = [
      makeGrpcRetryInterceptor({
        retryableDecider: (attempt, status) => !this.draining && defaults.retryableDecider(attempt, status),
        delayFunction: (attempt, status) => {
          const ms = defaults.delayFunction(attempt, status);
          this.quietAt = Math.max(this.quietAt, Date.now() + ms);
          return ms;
        },
      }),
    ];
  }

  /** When the last retry scheduled so far fires (ms since the epoch); 0 when none was. */
  get scheduledUntil(): number {
    return this.quietAt;
  }

  /** No retry is scheduled from now on; resolves once every one already scheduled has fired. */
  async drain(): Promise<void> {
    this.draining = true;
    const waitMs = this.quietAt - Date.now();
    if (waitMs > 0) await delay(waitMs + 20);
  }
}
