/**
 * Signals `permit` catches instead of dying from them: while a command runs they are passed on to
 * it, so that permit outlives it and can release. SIGUSR1 is left alone (Node's debugger uses it).
 */
export const CAUGHT_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

/** Routes the caught signals to `handler` until the returned function is called. */
export function onSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  const listeners = CAUGHT_SIGNALS.map((signal) => {
    const listener = () => handler(signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
