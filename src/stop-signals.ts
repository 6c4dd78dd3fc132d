/** Signals that ask the service to stop: Ctrl-C, a process manager, a closed terminal, Ctrl-\. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

export type StopSignal = (typeof STOP_SIGNALS)[number];

/**
 * How long after the first stop signal further ones count as copies of it rather than a request to
 * force the exit. Ctrl-C reaches npm, tsx and the service at once, and the launchers relay it again
 * (tsx does so after waiting 30 ms for the service to acknowledge it), as they do a process manager's
 * SIGTERM to the group: the copies land within tens of milliseconds, a few hundred on a loaded
 * machine. A person presses Ctrl-C again to force the exit when shutdown seems stuck, which nobody
 * can judge within a second of asking for it; a press inside the window is ignored, and the next
 * one forces.
 */
export const SIGNAL_COPY_WINDOW_MS = 1_000;

export type StopSignalVerdict = 'first' | 'copy' | 'again';

/** Returns a classifier of stop signals as they arrive: the first, a copy (within windowMs of the first), or a repeat. */
export function stopSignalClassifier(windowMs: number, now: () => number = () => performance.now()): () => StopSignalVerdict {
  let firstAt: number | undefined;
  return () => {
    const at = now();
    if (firstAt === undefined) {
      firstAt = at;
      return 'first';
    }
    return at - firstAt < windowMs ? 'copy' : 'again';
  };
}

export interface StopSignalHandlers {
  /** The first stop signal: start the graceful shutdown. */
  onStop(signal: StopSignal): void;
  /** Another stop signal within the window: a copy of the first, to be ignored. */
  onCopy(signal: StopSignal): void;
  /** A stop signal after the window: the user insists; exit at once. */
  onAgain(signal: StopSignal): void;
}

/** Listens for every stop signal for the life of the process and hands each to the handler its verdict names; returns a function that stops listening. */
export function onStopSignals(
  handlers: StopSignalHandlers,
  windowMs = SIGNAL_COPY_WINDOW_MS,
  signals: readonly StopSignal[] = STOP_SIGNALS,
): () => void {
  const classify = stopSignalClassifier(windowMs);
  const listener = (signal: StopSignal) => {
    const verdict = classify();
    if (verdict === 'first') handlers.onStop(signal);
    else if (verdict === 'copy') handlers.onCopy(signal);
    else handlers.onAgain(signal);
  };
  for (const signal of signals) process.on(signal, listener);
  return () => {
    for (const signal of signals) process.off(signal, listener);
  };
}
