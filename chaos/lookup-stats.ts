// The visibility lookups the replicas made (a runId they did not grant), from their /metrics: scraped
// every few seconds, so a replica that is killed loses at most the last few seconds of its counts.
import type { Answer } from './clients.js';
import type { InjectedFault } from './faults.js';

const HISTOGRAM = 'lock_permit_lookup_duration_seconds';

interface Counts {
  count: number;
  sumSeconds: number;
  /** Cumulative bucket counts by upper bound (seconds). */
  buckets: Map<number, number>;
}

/** Reads one replica's histogram, summed over results, and the count of lookups that failed. */
function parse(text: string): { all: Counts; errors: number } {
  const all: Counts = { count: 0, sumSeconds: 0, buckets: new Map() };
  let errors = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(HISTOGRAM)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${HISTOGRAM}_count`)) {
      all.count += value;
      if (line.includes('result="error"')) errors += value;
    } else if (line.startsWith(`${HISTOGRAM}_sum`)) {
      all.sumSeconds += value;
    } else if (line.startsWith(`${HISTOGRAM}_bucket`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1];
      const bound = le === '+Inf' ? Infinity : Number(le);
      all.buckets.set(bound, (all.buckets.get(bound) ?? 0) + value);
    }
  }
  return { all, errors };
}

export interface LookupSummary {
  lookups: number;
  meanMs: number | undefined;
  /** Every lookup took at most this long (the smallest histogram bound holding them all), ms. */
  slowestAtMostMs: number | undefined;
  failed: number;
  /**
   * Releases and renewals through a replica that had not granted the permit (through a load balancer,
   * which hides the replica: all of them), within 30 s after a Temporal restart.
   */
  afterTemporalRestart: { requests: number; p50Ms: number | undefined; maxMs: number | undefined; answered503: number; anyReplica: boolean };
}

/** Follows the replicas' lookup histograms across restarts (a counter that went down means a new process). */
export class LookupStats {
  private readonly last = new Map<string, { all: Counts; errors: number }>();
  private readonly finished: Array<{ all: Counts; errors: number }> = [];

  /** Records one scrape of one replica. */
  observe(url: string, text: string): void {
    const now = parse(text);
    const before = this.last.get(url);
    if (before && now.all.count < before.all.count) this.finished.push(before);
    this.last.set(url, now);
  }

  /** Scrapes every URL once; a replica that is down is skipped. */
  async scrape(urls: readonly string[]): Promise<void> {
    await Promise.all(
      urls.map(async (url) => {
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
          if (response.ok) this.observe(url, await response.text());
        } catch {
          // down or restarting
        }
      }),
    );
  }

  /** The totals over every replica process, and the client-side view after each Temporal restart. */
  summary(answers: readonly Answer[], faults: readonly InjectedFault[]): LookupSummary {
    const all = [...this.finished, ...this.last.values()];
    const count = all.reduce((sum, item) => sum + item.all.count, 0);
    const sum = all.reduce((total, item) => total + item.all.sumSeconds, 0);
    const failed = all.reduce((total, item) => total + item.errors, 0);
    const bounds = [...new Set(all.flatMap((item) => [...item.all.buckets.keys()]))].sort((a, b) => a - b);
    const slowest = bounds.find((bound) => all.reduce((total, item) => total + (item.all.buckets.get(bound) ?? 0), 0) >= count);
    const restarts = faults.filter((fault) => fault.kind === 'temporal_kill').map((fault) => fault.recoveredAt);
    const after = answers.filter(
      (answer) =>
        (answer.op === 'release' || answer.op === 'renew') &&
        answer.grantingReplica !== true &&
        restarts.some((restart) => answer.sentAt >= restart && answer.sentAt < restart + 30_000),
    );
    const latencies = after.map((answer) => answer.answeredAt - answer.sentAt).sort((a, b) => a - b);
    return {
      lookups: count,
      meanMs: count ? (sum * 1_000) / count : undefined,
      slowestAtMostMs: count && slowest !== undefined ? slowest * 1_000 : undefined,
      failed,
      afterTemporalRestart: {
        requests: after.length,
        p50Ms: latencies.length ? latencies[Math.floor(latencies.length / 2)] : undefined,
        maxMs: latencies.at(-1),
        answered503: after.filter((answer) => answer.status === 503).length,
        anyReplica: after.some((answer) => answer.grantingReplica === undefined),
      },
    };
  }
}
