// The service's own Prometheus counters, read before and after a phase. Their differences say what
// the service did inside that phase: how many workflow starts an acquire tried, and how long a
// request spent in Fastify and in the permit service (histogram sums over counts: means).
import type { KeepAliveHttp } from './http-client.js';

/** Every sample of a Prometheus text exposition, keyed by `name{labels}` exactly as written. */
export type MetricSamples = Map<string, number>;

/** Parses the Prometheus text format's sample lines (comments and blank lines skipped). */
export function parseMetrics(text: string): MetricSamples {
  const samples: MetricSamples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{.*\})?)\s+(\S+)$/.exec(line.trim());
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

/** GET /metrics; undefined when the service does not answer it. */
export async function scrapeMetrics(http: KeepAliveHttp): Promise<MetricSamples | undefined> {
  const answer = await http.request('GET', '/metrics');
  return answer.status === 200 && typeof answer.body === 'string' ? parseMetrics(answer.body) : undefined;
}

/** The sum of every sample of `name` whose labels include all of `labels`. */
export function total(samples: MetricSamples, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const [series, value] of samples) {
    const brace = series.indexOf('{');
    const seriesName = brace < 0 ? series : series.slice(0, brace);
    if (seriesName !== name) continue;
    const labelText = brace < 0 ? '' : series.slice(brace);
    if (wanted.every((pair) => labelText.includes(pair))) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** How much a counter (or histogram _sum/_count) grew between two scrapes. */
export function growth(before: MetricSamples | undefined, after: MetricSamples | undefined, name: string, labels: Record<string, string> = {}): number | undefined {
  if (!before || !after) return undefined;
  const end = total(after, name, labels);
  if (end === undefined) return undefined;
  return end - (total(before, name, labels) ?? 0);
}

/** Mean of a histogram's observations between two scrapes, in milliseconds. */
export function meanMsBetween(before: MetricSamples | undefined, after: MetricSamples | undefined, histogram: string, labels: Record<string, string> = {}): number | undefined {
  const seconds = growth(before, after, `${histogram}_sum`, labels);
  const count = growth(before, after, `${histogram}_count`, labels);
  return seconds === undefined || !count ? undefined : (seconds * 1000) / count;
}

/** Workflow starts the service tried (claimed + busy) between two scrapes. */
export function startAttemptsBetween(before: MetricSamples | undefined, after: MetricSamples | undefined): number | undefined {
  return growth(before, after, 'lock_slot_start_attempts_total');
}
