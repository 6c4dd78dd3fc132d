// The Temporal dev server's own Prometheus counters (it runs with --metrics-port): how many API
// calls, and how many persistence requests of each kind, a phase cost the server. The server
// publishes its counters about once a second, so a reading waits for one publication to pass.
import { setTimeout as delay } from 'node:timers/promises';
import { parseMetrics, type MetricSamples } from './service-metrics.js';

/** How long a reading waits so that everything before it has been published. */
const PUBLISH_WAIT_MS = 1_500;

/** Reads the server's counters once the work before this call has been published; undefined when it does not answer. */
export async function readServerMetrics(url: string | undefined): Promise<MetricSamples | undefined> {
  if (!url) return undefined;
  await delay(PUBLISH_WAIT_MS);
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return answer.ok ? parseMetrics(await answer.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** Per operation: how much a counter grew between two readings, over every label set of one service (or all). */
export function growthByOperation(
  before: MetricSamples | undefined,
  after: MetricSamples | undefined,
  name: string,
  serviceName?: string,
): Record<string, number> {
  const grown: Record<string, number> = {};
  if (!before || !after) return grown;
  for (const [series, value] of after) {
    if (!series.startsWith(`${name}{`)) continue;
    if (serviceName && !series.includes(`service_name="${serviceName}"`)) continue;
    const operation = /operation="([^"]*)"/.exec(series)?.[1] ?? '?';
    const change = value - (before.get(series) ?? 0);
    if (change !== 0) grown[operation] = (grown[operation] ?? 0) + change;
  }
  return grown;
}

/** Persistence operations that write; the rest read. */
const WRITES = /^(Create|Update|Delete|Put|Upsert|Append|RangeComplete|RangeDelete|Complete|Set|Add|Conflict)/;

/** Whether a persistence operation writes to the database. */
export function isWrite(operation: string): boolean {
  return WRITES.test(operation);
}
