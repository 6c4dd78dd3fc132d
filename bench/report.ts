// Turns the measured results into the one markdown table printed to stdout and the JSON files
// under bench/results/. Nothing here measures; it only formats what run.ts hands it.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Row {
  scenario: string;
  system: string;
  /** Milliseconds. */
  p50?: number;
  p99?: number;
  throughput?: string;
  /** Already formatted, e.g. "1.21× raw cycle". */
  vsRaw?: string;
  target?: string;
  /** "yes", or "no: …" saying by how much. */
  met?: string;
}

/** A target from the issue, checked against this run's figures. */
export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

/** Milliseconds with as many decimals as are meaningful at that size. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(0)} ms`;
}

/** A ratio as "1.23×", or a dash when it could not be formed. */
export function formatRatio(value: number | undefined, suffix = ''): string {
  return value === undefined ? '—' : `${value.toFixed(2)}×${suffix ? ` ${suffix}` : ''}`;
}

/** Bytes as MB (2^20), with a decimal below 10 MB. */
export function formatMB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MB`;
}

/** A rate with a sensible number of decimals. */
export function formatRate(perSecond: number, unit: string): string {
  return `${perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1)} ${unit}`;
}

const escapeCell = (text: string) => text.replaceAll('|', '\\|');

/** The results table in GitHub markdown. */
export function renderTable(rows: readonly Row[]): string {
  const header = ['scenario', 'system', 'p50', 'p99', 'throughput', 'vs raw', 'target', 'met?'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) {
    const cells = [
      row.scenario,
      row.system,
      formatMs(row.p50),
      formatMs(row.p99),
      row.throughput ?? '—',
      row.vsRaw ?? '—',
      row.target ?? '',
      row.met ?? '',
    ];
    lines.push(`| ${cells.map(escapeCell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * Indented JSON with numbers to the microsecond and every array of numbers on one line: the files
 * carry thousands of samples, which one-per-line would make hard to read and to diff.
 */
export function toCompactJson(value: unknown): string {
  const rounded = (_key: string, item: unknown) =>
    typeof item === 'number' && !Number.isInteger(item) ? Math.round(item * 1000) / 1000 : item;
  return JSON.stringify(value, rounded, 2).replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_match, numbers: string) =>
    `[${numbers.split(/,\s*/).join(', ')}]`,
  );
}

export interface WrittenFiles {
  timestamped: string;
  latest: string | undefined;
  out: string | undefined;
}

/**
 * Writes bench/results/<ISO timestamp>.json always, bench/results/latest.json when the run was
 * complete (a quick, profiled or partial run must not replace the full table), and --out when given.
 */
export async function writeResults(
  resultsDir: string,
  startedAt: Date,
  results: unknown,
  options: { complete: boolean; out: string | undefined },
): Promise<WrittenFiles> {
  await fs.mkdir(resultsDir, { recursive: true });
  const text = `${toCompactJson(results)}\n`;
  const timestamped = path.join(resultsDir, `${startedAt.toISOString().replaceAll(':', '-')}.json`);
  await fs.writeFile(timestamped, text);
  let latest: string | undefined;
  if (options.complete) {
    latest = path.join(resultsDir, 'latest.json');
    await fs.writeFile(latest, text);
  }
  if (options.out) {
    await fs.mkdir(path.dirname(path.resolve(options.out)), { recursive: true });
    await fs.writeFile(options.out, text);
  }
  return { timestamped, latest, out: options.out };
}
