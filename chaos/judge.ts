// The judgements of a chaos run, from what the clients recorded and what the fencing store accepted.
// Pure functions: test/unit/chaos-judge.test.ts checks that each one catches what it is for.
import type { Answer, Hold } from './clients.js';
import type { InjectedFault } from './faults.js';

export interface Judgement {
  name: string;
  passed: boolean;
  detail: string;
  /** Up to 10 examples of what went wrong. */
  violations: string[];
}

export interface StoreWrite {
  id: number;
  fencingSeq: string;
  writer: string | null;
}

export interface LivenessResult {
  resource: string;
  capacity: number;
  /** Permits granted out of `capacity`. */
  granted: number;
  /** From the end of the faults until the last of them was granted, ms (undefined when not all were). */
  elapsedMs: number | undefined;
  boundMs: number;
}

const MAX_EXAMPLES = 10;

/**
 * The window in which a client may act as a holder: from the 201 until the earlier of the release
 * being sent and the lease end by its own clock. Empty when the lease had ended before the 201 came.
 */
export function holdWindow(hold: Hold): { from: number; to: number } {
  return { from: hold.grantedAt, to: Math.min(hold.releaseSentAt ?? Infinity, hold.leaseEndClient) };
}

/** At no instant do more hold windows of a resource overlap than its capacity. */
export function judgeOverlap(holds: readonly Hold[], capacities: Readonly<Record<string, number>>): Judgement & { peak: Record<string, number> } {
  const peak: Record<string, number> = {};
  const violations: string[] = [];
  const byResource = new Map<string, Hold[]>();
  for (const hold of holds) byResource.set(hold.resource, [...(byResource.get(hold.resource) ?? []), hold]);
  for (const [resource, list] of byResource) {
    const capacity = capacities[resource] ?? 1;
    // Half-open windows: an end and a start at the same instant do not overlap; ends sort first.
    const events = list
      .map((hold) => ({ hold, ...holdWindow(hold) }))
      .filter(({ from, to }) => to > from)
      .flatMap(({ hold, from, to }) => [
        { at: from, delta: 1, hold },
        { at: to, delta: -1, hold },
      ])
      .sort((a, b) => a.at - b.at || a.delta - b.delta);
    const open = new Set<Hold>();
    let highest = 0;
    for (const event of events) {
      if (event.delta < 0) {
        open.delete(event.hold);
        continue;
      }
      open.add(event.hold);
      highest = Math.max(highest, open.size);
      if (open.size > capacity && violations.length < MAX_EXAMPLES) {
        const who = [...open].map((hold) => `${hold.client} slot ${hold.slot} seq ${hold.fencingSeq} [${hold.grantedAt}, ${holdWindow(hold).to})`);
        violations.push(`${resource} (capacity ${capacity}) had ${open.size} holders at ${event.at}: ${who.join('; ')}`);
      }
    }
    peak[resource] = highest;
  }
  const summary = Object.entries(peak)
    .map(([resource, highest]) => `${resource} ${highest}/${capacities[resource] ?? 1}`)
    .join(', ');
  return { name: 'zero overlap', passed: violations.length === 0, detail: `most holders at once: ${summary}`, violations, peak };
}

/** The store accepted no write whose fencing number is below one it had accepted before for the key. */
export function judgeStaleWrites(logs: ReadonlyMap<string, readonly StoreWrite[]>, holds: readonly Hold[]): Judgement {
  const violations: string[] = [];
  let accepted = 0;
  for (const [key, writes] of logs) {
    accepted += writes.length;
    let highest: bigint | undefined;
    for (const write of writes) {
      const seq = BigInt(write.fencingSeq);
      if (highest !== undefined && seq < highest && violations.length < MAX_EXAMPLES) {
        violations.push(`${key}: write ${write.id} by ${write.writer} with ${write.fencingSeq} accepted after ${highest}`);
      }
      if (highest === undefined || seq > highest) highest = seq;
    }
  }
  const allWrites = holds.flatMap((hold) => hold.writes);
  const refused = allWrites.filter((write) => write.status === 409).length;
  const paused = allWrites.filter((write) => write.afterPause);
  const pausedRefused = paused.filter((write) => write.status === 409).length;
  return {
    name: 'zero stale writes',
    passed: violations.length === 0,
    detail:
      `${accepted} writes accepted, ${refused} refused as stale; of ${paused.length} writes by holders resuming after a pause, ` +
      `${pausedRefused} refused (the others came before anyone else wrote to the slot)`,
    violations,
  };
}

/** No release sent after the latest moment the lease could have ended answered 204. */
export function judgeLateReleases(releases: ReadonlyArray<{ hold: Hold; sentAt: number; status: number }>): Judgement {
  const late = releases.filter(({ hold, sentAt }) => sentAt > hold.leaseEndUpper);
  const violations = late
    .filter(({ status }) => status === 204)
    .slice(0, MAX_EXAMPLES)
    .map(({ hold, sentAt }) => `${hold.client} released ${hold.runId} ${sentAt - hold.leaseEndUpper} ms after its lease had ended, and heard 204`);
  const statuses = new Map<number, number>();
  for (const { status } of late) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const answered = [...statuses].map(([status, count]) => `${count}× ${status === 0 ? 'no answer' : status}`).join(', ');
  return {
    name: 'a release after the lease ended never answers 204',
    passed: violations.length === 0,
    detail: `${late.length} releases sent after the lease ended${late.length ? `: ${answered}` : ''}`,
    violations,
  };
}

/** Every resource was fully acquirable within its bound after the faults stopped. */
export function judgeLiveness(results: readonly LivenessResult[]): Judgement {
  const violations = results
    .filter((result) => result.granted < result.capacity || result.elapsedMs === undefined || result.elapsedMs > result.boundMs)
    .map((result) => `${result.resource}: ${result.granted}/${result.capacity} granted${result.elapsedMs === undefined ? '' : ` after ${result.elapsedMs} ms`} (bound ${result.boundMs} ms)`);
  const detail = results
    .map((result) => `${result.resource} ${result.elapsedMs === undefined ? 'not fully' : `${(result.elapsedMs / 1000).toFixed(1)} s`}`)
    .join(', ');
  return { name: 'liveness', passed: violations.length === 0, detail: `fully acquired after the faults: ${detail} (bound ${(results[0]?.boundMs ?? 0) / 1000} s)`, violations };
}

/** The service answered no 5xx but 503 with Retry-After. */
export function judgeServerErrors(answers: readonly Answer[]): Judgement {
  const service = answers.filter((answer) => answer.op !== 'write');
  const bad = service.filter((answer) => answer.status >= 500 && !(answer.status === 503 && answer.retryAfter));
  const polite = service.filter((answer) => answer.status === 503 && answer.retryAfter).length;
  const unanswered = service.filter((answer) => answer.status === 0).length;
  return {
    name: 'no 5xx but 503 with Retry-After',
    passed: bad.length === 0,
    detail: `${polite} answers were 503 with Retry-After; ${unanswered} requests got no answer (a replica down or cut off)`,
    violations: bad.slice(0, MAX_EXAMPLES).map((answer) => `${answer.op} via ${answer.url} at ${answer.sentAt}: ${answer.status} ${answer.error ?? ''}`),
  };
}

export interface FaultImpact {
  kind: string;
  count: number;
  /** Seconds (whole, by the clock) in which some request was answered 503, after a fault of this kind. */
  seconds503: number;
  /** The longest time after a fault of this kind in which no request to the service succeeded, ms. */
  longestUnavailableMs: number;
  /** What the fault with that longest time hit (a replica, Temporal, PostgreSQL, a client). */
  worstTarget: string | undefined;
}

export interface FaultOutcome {
  /** Seconds (whole, by the clock) in which some request was answered 503, from this fault's start until the next one's. */
  seconds503: number[];
  /** The longest stretch from this fault's start until the next one's with no 2xx answer from the service to anyone, ms. */
  longestUnavailableMs: number;
}

/** What each fault did to availability: a 503 counts against the latest fault begun before it. Faults in the order given. */
export function faultOutcomes(faults: readonly InjectedFault[], answers: readonly Answer[], endedAt: number): FaultOutcome[] {
  const service = answers.filter((answer) => answer.op !== 'write').sort((a, b) => a.answeredAt - b.answeredAt);
  const starts = faults.map((fault) => fault.startedAt).sort((a, b) => a - b);
  return faults.map((fault) => {
    const until = starts.find((start) => start > fault.startedAt) ?? endedAt;
    const seconds = new Set<number>();
    let longest = 0;
    let lastSuccess = fault.startedAt;
    for (const answer of service) {
      if (answer.answeredAt < fault.startedAt || answer.answeredAt >= until) continue;
      if (answer.status === 503) seconds.add(Math.floor(answer.answeredAt / 1_000));
      if (answer.status >= 200 && answer.status < 300) {
        longest = Math.max(longest, answer.answeredAt - lastSuccess);
        lastSuccess = answer.answeredAt;
      }
    }
    return { seconds503: [...seconds], longestUnavailableMs: Math.max(longest, until - lastSuccess) };
  });
}

/**
 * What each kind of fault did to availability. A 503 counts against the latest fault begun before
 * it; unavailability is the longest stretch, from a fault's start until the next fault's, with no
 * 2xx answer from the service to anyone.
 */
export function faultImpacts(faults: readonly InjectedFault[], answers: readonly Answer[], endedAt: number): FaultImpact[] {
  const outcomes = faultOutcomes(faults, answers, endedAt);
  const impacts = new Map<string, { count: number; seconds: Set<number>; longest: number; worst: string | undefined }>();
  faults.forEach((fault, index) => {
    const impact = impacts.get(fault.kind) ?? { count: 0, seconds: new Set<number>(), longest: -1, worst: undefined };
    impacts.set(fault.kind, impact);
    impact.count++;
    const outcome = outcomes[index]!;
    for (const second of outcome.seconds503) impact.seconds.add(second);
    if (outcome.longestUnavailableMs > impact.longest) {
      impact.longest = outcome.longestUnavailableMs;
      impact.worst = fault.target;
    }
  });
  return [...impacts].map(([kind, impact]) => ({
    kind,
    count: impact.count,
    seconds503: impact.seconds.size,
    longestUnavailableMs: impact.longest,
    worstTarget: impact.worst,
  }));
}
