import { LockServiceError, PermitLostError, type PermitLostReason } from './errors.js';
import type { LockClient } from './lock-client.js';
import type { HeldPermit, Permit } from './types.js';

export interface PermitKeeperOptions {
  /** The lease each renewal asks for; default: the permit's leaseMs. */
  leaseMs?: number | undefined;
  /** Time between renewals; default a third of the lease, so two renewals can fail before it runs out. */
  renewEveryMs?: number | undefined;
  /** How long before the lease would end, without a renewal, the permit counts as lost; default max(200 ms, lease/10). */
  safetyMarginMs?: number | undefined;
  /**
   * Local time (ms since epoch) by which the current lease surely has not ended yet. Default: for a
   * permit this keeper's client returned from acquire or renew, when that request was sent (see
   * LockClient.leaseCountedFrom) + the permit's leaseMs; for any other permit, now + its leaseMs,
   * which is later than the service counts by the time its answer took to arrive: pass this then.
   */
  heldUntilMs?: number | undefined;
  /** Told about each renewal and each failed attempt, for logs. */
  onEvent?: ((event: PermitKeeperEvent) => void) | undefined;
}

export type PermitKeeperEvent =
  | { type: 'renewed'; permit: HeldPermit }
  | { type: 'renew_failed'; error: unknown; retryInMs: number }
  | { type: 'renewal_refused'; error: LockServiceError }
  | { type: 'lost'; error: PermitLostError };

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2_000;

/**
 * Keeps a permit alive: renews it every `renewEveryMs`, retries failed renewals with back-off, and
 * aborts `lost` when the service says the permit has ended or when no renewal has succeeded by the
 * time the lease would end (minus a safety margin). A renewal the service refuses for good (maximum
 * hold time, renewal limit, a refused key, or any other non-retryable 4xx) is not asked again, and
 * `lost` aborts that margin before the lease it still has runs out. Expiry is tracked on the local
 * clock from the moment each request was *sent* (the first lease from the acquire's, plus the time the
 * service says it waited before the lease began; each later one from its renewal's), never from when
 * its answer arrived: the service began each lease no earlier, so the local expiry is never later than
 * its own.
 */
export class PermitKeeper {
  private readonly controller = new AbortController();
  private readonly stopping = new AbortController();
  private readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly safetyMarginMs: number;
  private heldUntilMs: number;
  private lostTimer: NodeJS.Timeout | undefined;
  /** Set when the service refused a renewal for good; the lease then simply runs out. */
  private refusal: LockServiceError | undefined;
  private loop: Promise<void> | undefined;

  /** Fires, with a PermitLostError as its reason, when the permit can no longer be counted on. */
  readonly lost: AbortSignal = this.controller.signal;

  constructor(
    private readonly client: LockClient,
    private readonly permit: Permit,
    private readonly options: PermitKeeperOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? permit.leaseMs;
    this.safetyMarginMs = options.safetyMarginMs ?? Math.max(200, Math.round(this.leaseMs / 10));
    this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.leaseMs / 3);
    const shortestLeaseMs = Math.min(this.leaseMs, permit.leaseMs);
    if (!(this.renewEveryMs > 0 && this.renewEveryMs < shortestLeaseMs - this.safetyMarginMs)) {
      throw new RangeError(
        `renewEveryMs: ${this.renewEveryMs} must be more than 0 and less than the lease (${shortestLeaseMs} ms) minus the safety margin (${this.safetyMarginMs} ms)`,
      );
    }
    this.heldUntilMs = options.heldUntilMs ?? (client.leaseCountedFrom(permit) ?? Date.now()) + permit.leaseMs;
  }

  /** Starts renewing in the background; call stop() when done. */
  start(): void {
    this.armLostTimer();
    this.loop ??= this.renewLoop();
  }

  /** Stops renewing and waits for a renewal in flight to settle. Does not release the permit. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.lostTimer);
    await this.loop;
  }

  /** The local time by which the lease has surely not ended, as of the last successful renewal. */
  get heldUntil(): number {
    return this.heldUntilMs;
  }

  private armLostTimer(): void {
    clearTimeout(this.lostTimer);
    if (this.stopping.signal.aborted || this.lost.aborted) return;
    const delayMs = Math.max(0, this.heldUntilMs - this.safetyMarginMs - Date.now());
    this.lostTimer = setTimeout(() => {
      const reason = this.refusal ? refusalReason(this.refusal) : 'unconfirmed';
      const detail = !this.refusal
        ? `no renewal succeeded before the lease would run out`
        : this.refusal.keyRefused
          ? `the service refuses the API key (${this.refusal.message}) and the lease is running out`
          : `the service refuses renewals (${this.refusal.message}) and the lease is running out`;
      this.declareLost(new PermitLostError(`permit ${this.permit.runId} is lost: ${detail}`, this.permit.runId, reason));
    }, delayMs);
  }

  private declareLost(error: PermitLostError): void {
    if (this.lost.aborted || this.stopping.signal.aborted) return;
    clearTimeout(this.lostTimer);
    this.options.onEvent?.({ type: 'lost', error });
    this.controller.abort(error);
  }

  private async renewLoop(): Promise<void> {
    const done = AbortSignal.any([this.stopping.signal, this.lost]);
    let nextAt = this.heldUntilMs - this.permit.leaseMs + this.renewEveryMs;
    let retryMs = FIRST_RETRY_MS;
    while (!done.aborted) {
      await pause(nextAt - Date.now(), done);
      if (done.aborted) return;
      const sentAt = Date.now();
      try {
        const renewed = await this.client.renew(this.permit.runId, {
          leaseMs: this.leaseMs,
          signal: done,
          // A renewal that hangs must not use up the time for the next attempt.
          timeoutMs: Math.max(1_000, this.renewEveryMs),
        });
        this.heldUntilMs = sentAt + renewed.leaseMs;
        this.armLostTimer();
        this.options.onEvent?.({ type: 'renewed', permit: renewed });
        retryMs = FIRST_RETRY_MS;
        nextAt = sentAt + this.renewEveryMs;
      } catch (error) {
        if (done.aborted) return;
        if (error instanceof LockServiceError && error.permitGone) {
          const detail =
            error.code === 'permit_ended' ? `the service says it has ended (${error.state ?? 'ended'})` : 'the service no longer knows it';
          const message = `permit ${this.permit.runId} is lost: ${detail}`;
          this.declareLost(new PermitLostError(message, this.permit.runId, 'ended', error.state));
          return;
        }
        if (error instanceof LockServiceError && !error.retryable) {
          // max_hold_exceeded, renewal_limit, a refused key (401/403), or a lease the service will not
          // grant: asking again cannot help. The permit stays held until its lease ends, so the lost
          // timer, not this refusal, says when to stop.
          this.refusal = error;
          this.options.onEvent?.({ type: 'renewal_refused', error });
          this.armLostTimer();
          return;
        }
        this.options.onEvent?.({ type: 'renew_failed', error, retryInMs: retryMs });
        nextAt = Date.now() + retryMs;
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    }
  }
}

/** Why a permit whose renewals the service refuses is lost once its lease runs out. */
function refusalReason(refusal: LockServiceError): PermitLostReason {
  if (refusal.keyRefused) return 'key_refused';
  if (refusal.code === 'max_hold_exceeded') return 'max_hold';
  if (refusal.code === 'renewal_limit') return 'renewal_limit';
  // A 400 (a lease this replica will not grant), another 409, a gateway's 4xx: none is the hold time.
  return 'renewal_refused';
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
