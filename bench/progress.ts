// Progress goes to stderr so stdout carries nothing but the final table.

const EVERY_MS = 2_000;

export interface Progress {
  /** Counts one more iteration done; prints at most once every two seconds. */
  tick(count?: number): void;
  /** Prints the last line of the phase, with what it measured. */
  done(detail?: string): void;
}

/** Writes a progress line to stderr. */
export function say(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Progress lines for one phase: its name and how many of its iterations are done. */
export function progress(phase: string, total?: number, unit = 'iterations'): Progress {
  const started = performance.now();
  let done = 0;
  let printedAt = started;
  const line = () => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    return `${phase}: ${done}${total === undefined ? '' : `/${total}`} ${unit} (${seconds} s)`;
  };
  say(`${phase}: started`);
  return {
    tick(count = 1) {
      done += count;
      const now = performance.now();
      if (now - printedAt >= EVERY_MS) {
        printedAt = now;
        say(line());
      }
    },
    done(detail) {
      say(`${line()} done${detail ? ` — ${detail}` : ''}`);
    },
  };
}
