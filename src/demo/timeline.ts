export type ConsumerKind = 'http' | 'workflow';

export type TimelineEvent = 'acquired' | 'released' | 'busy' | 'failed';

/** Writes one aligned line per event, stamped with the time since the demo started. */
export class Timeline {
  readonly startedAtMs = Date.now();

  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  elapsedMs(atMs = Date.now()): number {
    return atMs - this.startedAtMs;
  }

  header(): void {
    this.write(`  ${'elapsed'.padStart(8)}  ${'event'.padEnd(9)} ${'consumer'.padEnd(20)} ${'kind'.padEnd(9)} ${'slot'.padEnd(5)} detail`);
  }

  event(event: TimelineEvent, consumer: string, kind: ConsumerKind, slot: number | undefined, detail = ''): void {
    const slotText = slot === undefined ? '-' : String(slot);
    this.write(
      `  ${formatElapsed(this.elapsedMs())}  ${event.padEnd(9)} ${consumer.padEnd(20)} ${kind.padEnd(9)} ${slotText.padEnd(5)} ${detail}`.trimEnd(),
    );
  }

  line(text = ''): void {
    this.write(text);
  }
}

export function formatElapsed(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(3)}s`.padStart(8);
}

export function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}
