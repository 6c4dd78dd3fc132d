// Pure: durations as people type them on a command line ("30s", "5m", "1h30m", "250ms").

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The word a wait may be given as instead of a duration: no upper bound. */
export const FOREVER = 'forever';

/** A duration that could not be read; the message says what is wrong, the caller adds which option. */
export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

/**
 * Milliseconds of a duration such as `30s`, `5m`, `1h30m`, `1.5s` or `250ms` (units ms, s, m, h, d;
 * a number needs a unit, except `0`). With `allowForever`, `forever` gives Infinity.
 */
export function parseDuration(text: string, options: { allowForever?: boolean } = {}): number {
  const input = text.trim();
  if (options.allowForever && input === FOREVER) return Infinity;
  const example = options.allowForever ? `e.g. 30s, 5m, 1h30m, 0 or ${FOREVER}` : 'e.g. 30s, 5m, 1h30m or 250ms';
  if (input === '') throw new DurationError(`is empty; give a duration, ${example}`);
  if (input === '0') return 0;
  if (/^\d+(\.\d+)?$/.test(input)) {
    throw new DurationError(`"${text}" has no unit; write ${input}s for seconds or ${input}ms for milliseconds`);
  }
  if (input.startsWith('-')) throw new DurationError(`"${text}" is negative`);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let totalMs = 0;
  let at = 0;
  while (at < input.length) {
    part.lastIndex = at;
    const match = part.exec(input);
    if (!match) throw new DurationError(`"${text}" is not a duration; ${example}`);
    totalMs += Number(match[1]) * UNIT_MS[match[2]!]!;
    at = part.lastIndex;
  }
  if (!Number.isSafeInteger(Math.round(totalMs))) throw new DurationError(`"${text}" is too long`);
  return Math.round(totalMs);
}

/** A duration in the same notation, for messages: 1500 → "1.5s", 90000 → "1m30s", Infinity → "forever". */
export function formatDuration(ms: number): string {
  if (ms === Infinity) return FOREVER;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms);
  let text = '';
  for (const [unit, size] of [['d', UNIT_MS.d!], ['h', UNIT_MS.h!], ['m', UNIT_MS.m!]] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) text += `${Number((rest / 1_000).toFixed(3))}s`;
  return text;
}
