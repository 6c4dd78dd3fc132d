// The chaos run's clients: each takes a permit on its resource through a random replica, writes to
// the fencing store with the permit's fencing number while it believes it holds it, and releases it,
// over and over. Every answer and every hold is recorded for the judgements. Times are Date.now() of
// this one process, so every hold window and lease end is on one clock.
import { setTimeout as delay } from 'node:timers/promises';
import { between, pick, seededRandom } from './random.js';

/** One request and its answer. `status` 0: no answer (connection refused or reset, or a timeout). */
export interface Answer {
  op: 'acquire' | 'release' | 'renew' | 'write';
  url: string;
  sentAt: number;
  answeredAt: number;
  status: number;
  retryAfter: boolean;
  error?: string;
  /**
   * renew and release: whether this replica granted the permit (else it had to look the runId up);
   * undefined through a load balancer, which hides the replica.
   */
  grantingReplica?: boolean;
}

/** One permit as its client saw it. */
export interface Hold {
  client: string;
  resource: string;
  capacity: number;
  slot: number;
  runId: string;
  fencingSeq: string;
  grantedBy: string;
  leaseMs: number;
  /** When the acquire was sent, and when its 201 arrived. */
  sentAt: number;
  grantedAt: number;
  /**
   * The lease end by the client's own clock: the send time of the request that granted or last
   * renewed it, plus its lease. The server's lease cannot have ended earlier.
   */
  leaseEndClient: number;
  /**
   * The latest the server's lease can end: the arrival of the answer that granted or last renewed it,
   * plus its lease. A release sent after this must not answer 204.
   */
  leaseEndUpper: number;
  releaseSentAt?: number;
  releaseStatus?: number;
  /** The client stopped (as in a GC pause) past the lease while holding this permit. */
  paused: boolean;
  writes: Array<{ sentAt: number; status: number; afterPause: boolean }>;
}

/** How one resource's clients behave. */
export interface ResourcePlan {
  resource: string;
  capacity: number;
  clients: number;
  leaseMs: number;
  /** How long a client holds a permit, ms; with renewEveryMs the lease is renewed meanwhile. */
  holdMs: [number, number];
  renewEveryMs?: number;
}

export interface ClientRecords {
  answers: Answer[];
  holds: Hold[];
}

const ACQUIRE_WAIT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** A paused holder stays stopped this long past its lease. */
const PAUSE_PAST_LEASE_MS = 2_000;

interface Sent {
  status: number;
  body: Record<string, unknown> | undefined;
  retryAfter: boolean;
  sentAt: number;
  answeredAt: number;
  error?: string;
}

async function send(url: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<Sent> {
  const sentAt = Date.now();
  try {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      parsed = { raw: text.slice(0, 200) };
    }
    return { status: response.status, body: parsed, retryAfter: response.headers.has('retry-after'), sentAt, answeredAt: Date.now() };
  } catch (error) {
    return { status: 0, body: undefined, retryAfter: false, sentAt, answeredAt: Date.now(), error: (error as Error).message };
  }
}

/**
 * Runs the clients until `stop` aborts; a client that is holding then finishes its hold and releases.
 * `pauses` lets the fault injector ask a holding client to stop past its lease.
 */
export class ChaosClients {
  readonly records: ClientRecords = { answers: [], holds: [] };
  private readonly pauseRequests = new Set<string>();
  private readonly holding = new Map<string, Hold>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly urls: readonly string[],
    /** False for a load balancer's URL: then which replica answers is unknown. */
    private readonly urlsAreReplicas: boolean,
    private readonly storeUrl: string,
    private readonly plans: readonly ResourcePlan[],
    private readonly seed: number,
  ) {}

  /** Starts every client's loop. */
  start(stop: AbortSignal): void {
    let index = 0;
    for (const plan of this.plans) {
      for (let n = 0; n < plan.clients; n++) {
        const name = `${plan.resource}#${n}`;
        this.loops.push(this.loop(name, plan, seededRandom(this.seed * 1_000 + index++), stop));
      }
    }
  }

  /** Resolves when every loop has ended (after stop). */
  async finished(): Promise<void> {
    await Promise.all(this.loops);
  }

  /** Clients holding a permit right now and not already asked to pause. */
  holders(): string[] {
    return [...this.holding.keys()].filter((name) => !this.pauseRequests.has(name));
  }

  /** Asks a holding client to stop past its lease, as in a long GC pause; false if it is not holding. */
  requestPause(client: string): boolean {
    if (!this.holding.has(client)) return false;
    this.pauseRequests.add(client);
    return true;
  }

  private record(op: Answer['op'], url: string, sent: Sent, extra: Partial<Answer> = {}): void {
    this.records.answers.push({
      op,
      url,
      sentAt: sent.sentAt,
      answeredAt: sent.answeredAt,
      status: sent.status,
      retryAfter: sent.retryAfter,
      ...(sent.error && { error: sent.error }),
      ...(sent.status >= 500 && sent.body && { error: JSON.stringify(sent.body).slice(0, 300) }),
      ...extra,
    });
  }

  private granting(url: string, hold: Hold): Partial<Answer> {
    return this.urlsAreReplicas ? { grantingReplica: url === hold.grantedBy } : {};
  }

  private async loop(name: string, plan: ResourcePlan, random: () => number, stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const url = pick(random, this.urls);
      const sent = await send(url, 'POST', `/resources/${plan.resource}/acquire`, { leaseMs: plan.leaseMs, waitMs: ACQUIRE_WAIT_MS, holder: name }, ACQUIRE_WAIT_MS + REQUEST_TIMEOUT_MS);
      this.record('acquire', url, sent);
      if (sent.status !== 201 || !sent.body) {
        // Busy, 503 or no answer: try again soon (a 503's Retry-After is honoured up to a second).
        await delay(sent.status === 503 ? Math.min(1_000, 200 + random() * 800) : between(random, 20, 120));
        continue;
      }
      const body = sent.body as { runId: string; fencingSeq: string; slot: number; waitedMs: number };
      const hold: Hold = {
        client: name,
        resource: plan.resource,
        capacity: plan.capacity,
        slot: body.slot,
        runId: body.runId,
        fencingSeq: body.fencingSeq,
        grantedBy: url,
        leaseMs: plan.leaseMs,
        sentAt: sent.sentAt,
        grantedAt: sent.answeredAt,
        leaseEndClient: sent.sentAt + body.waitedMs + plan.leaseMs,
        leaseEndUpper: sent.answeredAt + plan.leaseMs,
        paused: false,
        writes: [],
      };
      this.records.holds.push(hold);
      this.holding.set(name, hold);
      try {
        await this.hold(hold, plan, random);
      } finally {
        this.holding.delete(name);
        this.pauseRequests.delete(name);
      }
      await delay(between(random, 0, 100));
    }
  }

  private async hold(hold: Hold, plan: ResourcePlan, random: () => number): Promise<void> {
    const endAt = Date.now() + between(random, plan.holdMs[0], plan.holdMs[1]);
    await this.write(hold, false);
    let nextRenewAt = plan.renewEveryMs === undefined ? Infinity : hold.sentAt + plan.renewEveryMs;
    while (Date.now() < endAt && !this.pauseRequests.has(hold.client)) {
      if (Date.now() >= hold.leaseEndClient) return; // lost: renewals did not get through in time; nothing to release
      if (Date.now() >= nextRenewAt) {
        const renewed = await this.renew(hold, random);
        if (renewed === 'ended') return;
        nextRenewAt = Date.now() + (renewed === 'ok' ? plan.renewEveryMs! : 100);
        if (renewed === 'ok' && random() < 0.3) await this.write(hold, false);
        continue;
      }
      await delay(Math.min(50, Math.max(0, Math.min(endAt, nextRenewAt) - Date.now())));
    }
    // From here on the hold ends one way or the other: no pause can be asked of it any more.
    const pause = this.pauseRequests.has(hold.client);
    this.holding.delete(hold.client);
    if (pause) {
      // Stopped, as in a long GC pause: no renewal, no write, no release, until past the lease.
      hold.paused = true;
      await delay(Math.max(0, hold.leaseEndUpper + PAUSE_PAST_LEASE_MS - Date.now()));
      // It wakes up believing it still holds the permit, and writes with its number.
      await this.write(hold, true);
    } else {
      await this.write(hold, false);
    }
    await this.release(hold, random);
  }

  private async write(hold: Hold, afterPause: boolean): Promise<void> {
    // Only while the client believes it holds the permit, or when it wakes up from a pause believing so.
    if (!afterPause && Date.now() >= hold.leaseEndClient) return;
    const key = `${hold.resource}.${hold.slot}`;
    const sent = await send(this.storeUrl, 'POST', `/keys/${key}/writes`, { fencingSeq: hold.fencingSeq, writer: hold.client, value: hold.runId }, REQUEST_TIMEOUT_MS);
    this.record('write', this.storeUrl, sent);
    hold.writes.push({ sentAt: sent.sentAt, status: sent.status, afterPause });
  }

  private async renew(hold: Hold, random: () => number): Promise<'ok' | 'retry' | 'ended'> {
    const url = pick(random, this.urls);
    const sent = await send(url, 'POST', `/permits/${hold.runId}/renew`, { leaseMs: hold.leaseMs }, REQUEST_TIMEOUT_MS);
    this.record('renew', url, sent, this.granting(url, hold));
    if (sent.status === 200) {
      hold.leaseEndClient = Math.max(hold.leaseEndClient, sent.sentAt + hold.leaseMs);
      hold.leaseEndUpper = Math.max(hold.leaseEndUpper, sent.answeredAt + hold.leaseMs);
      return 'ok';
    }
    return sent.status === 410 || sent.status === 404 || sent.status === 409 ? 'ended' : 'retry';
  }

  private async release(hold: Hold, random: () => number): Promise<void> {
    // A release that got no answer, or a 503, is sent again (through another replica, perhaps).
    for (let attempt = 0; attempt < 5; attempt++) {
      const url = pick(random, this.urls);
      const sent = await send(url, 'DELETE', `/permits/${hold.runId}`, undefined, REQUEST_TIMEOUT_MS);
      this.record('release', url, sent, this.granting(url, hold));
      if (attempt === 0) hold.releaseSentAt = sent.sentAt;
      this.releases.push({ hold, sentAt: sent.sentAt, status: sent.status });
      if (sent.status !== 0 && sent.status !== 503) {
        hold.releaseStatus = sent.status;
        return;
      }
      await delay(200);
    }
  }

  /** Every release request with the hold it was for (a retried release appears once per attempt). */
  readonly releases: Array<{ hold: Hold; sentAt: number; status: number }> = [];
}
