// The K-curve's rows and notes: grants/s, cycle p50/p99 and CPU ms per grant of each watched process.
import { perGrant } from './cpu.js';
import { formatRate, formatRatio, type Row } from './report.js';
import type { ThroughputResult } from './scenarios/throughput.js';
import { ratio, summarize } from './stats.js';

/** The processes' names as the table shows them. */
const SHOWN: Record<string, string> = { server: 'server', service: 'service', benchmark: 'clients' };

/** "server 4.1, service 2.0 ms CPU/grant" for the watched processes that were read. */
export function cpuPerGrantText(cpuMs: Record<string, number | undefined>, grants: number, names: readonly string[]): string {
  const parts = names
    .map((name) => {
      const value = perGrant(cpuMs[name], grants);
      return value === undefined ? undefined : `${SHOWN[name] ?? name} ${value < 1 ? value.toFixed(3) : value.toFixed(2)}`;
    })
    .filter((part): part is string => part !== undefined);
  return parts.length > 0 ? `${parts.join(', ')} ms CPU/grant` : 'CPU n/a';
}

/** One row per K. */
export function throughputRows(system: string, result: ThroughputResult): Row[] {
  const base = result.levels.find((level) => level.k === 1)?.grantsPerSecond;
  // The clients' CPU goes to the notes: it is the benchmark's, not the system's.
  const shown = result.watched.filter((name) => name !== 'benchmark');
  return result.levels.map((level) => {
    const cycles = level.cycleMs.length > 0 ? summarize(level.cycleMs) : undefined;
    return {
      scenario: `throughput: K clients, each cycling on its own mutex, K = ${level.k}`,
      system,
      p50: cycles?.p50,
      p99: cycles?.p99,
      throughput: `${formatRate(level.grantsPerSecond, 'grants/s')}; ${cpuPerGrantText(level.cpuMs, level.grants, shown)}`,
      vsRaw: level.k === 1 ? '—' : formatRatio(ratio(level.grantsPerSecond, base), 'the K = 1 rate'),
    };
  });
}

/** Errors, and what the clients themselves cost (they share the machine). */
export function throughputNotes(system: string, result: ThroughputResult, fencingReads?: number): string[] {
  const notes: string[] = [];
  for (const level of result.levels) {
    if (level.errors > 0) notes.push(`${system} throughput K = ${level.k}: ${level.errors} errors, e.g. ${level.firstErrors[0]}`);
  }
  if (result.watched.includes('benchmark')) {
    notes.push(
      `${system} throughput: the benchmark's clients used ${result.levels
        .map((level) => `${cpuPerGrantText(level.cpuMs, level.grants, ['benchmark']).replace(' ms CPU/grant', '')} (K = ${level.k})`)
        .join(', ')} ms CPU per grant on the same machine`,
    );
  }
  if (fencingReads !== undefined) {
    const grants = result.levels.reduce((sum, level) => sum + level.grants, 0);
    notes.push(`${system} throughput: ${fencingReads} fencing-number history reads over the phase (${grants} grants inside the windows, warm-ups not counted)`);
  }
  return notes;
}
