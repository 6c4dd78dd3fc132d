// Visibility records times to the nanosecond, and queries compare at that precision; a JavaScript
// Date keeps milliseconds. Paging by time therefore keeps each run's exact time as well.

/** A moment to the nanosecond: epoch nanoseconds, and the RFC 3339 text visibility queries take. */
export interface RunTime {
  nanos: bigint;
  text: string;
  date: Date;
}

interface ProtoTimestamp {
  seconds?: { toString(): string } | number | null;
  nanos?: number | null;
}

/** The protobuf Timestamp as a RunTime; undefined when absent. */
export function runTimeOf(timestamp: ProtoTimestamp | null | undefined): RunTime | undefined {
  if (!timestamp || timestamp.seconds === undefined || timestamp.seconds === null) return undefined;
  const seconds = BigInt(timestamp.seconds.toString());
  const nanos = timestamp.nanos ?? 0;
  const date = new Date(Number(seconds) * 1_000 + Math.floor(nanos / 1e6));
  const text = `${date.toISOString().slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
  return { nanos: seconds * 1_000_000_000n + BigInt(nanos), text, date };
}

/** RFC 3339 in UTC with up to nine fraction digits: what `before` cursors look like. */
export const RFC3339_UTC_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Parses RFC 3339 UTC text (as RFC3339_UTC_PATTERN) to a RunTime; undefined when it is not a real moment. */
export function parseRunTime(text: string): RunTime | undefined {
  if (!RFC3339_UTC_PATTERN.test(text)) return undefined;
  const whole = Date.parse(`${text.slice(0, 19)}Z`);
  if (Number.isNaN(whole)) return undefined;
  const fraction = (text.slice(20, -1) || '0').padEnd(9, '0');
  return runTimeOf({ seconds: whole / 1_000, nanos: Number(fraction) });
}
