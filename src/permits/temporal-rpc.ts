import type { Client } from '@temporalio/client';

/**
 * Every Temporal call the API makes goes through here and gets a deadline, so an unreachable server
 * means a prompt 503, never a hang.
 */
export class TemporalRpc {
  constructor(
    readonly client: Client,
    private readonly timeoutMs: number,
  ) {}

  /** Runs one call (or a few chained ones) under the configured deadline. */
  call<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.connection.withDeadline(Date.now() + this.timeoutMs, fn);
  }

  /** The same, under an earlier deadline when the caller has one (never a later one than the configured). */
  callBy<T>(deadlineMs: number, fn: () => Promise<T>): Promise<T> {
    return this.client.connection.withDeadline(Math.min(deadlineMs, Date.now() + this.timeoutMs), fn);
  }

  /** The same on another connection to the same server (eager starts go through the worker's). */
  callOn<T>(connection: { withDeadline<R>(deadline: number, fn: () => Promise<R>): Promise<R> }, fn: () => Promise<T>): Promise<T> {
    return connection.withDeadline(Date.now() + this.timeoutMs, fn);
  }

  /** True when Temporal answers a cheap call within a second. */
  async reachable(): Promise<boolean> {
    try {
      await this.client.connection.withDeadline(Date.now() + 1_000, () => this.client.workflowService.getSystemInfo({}));
      return true;
    } catch {
      return false;
    }
  }
}
