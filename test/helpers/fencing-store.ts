import path from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT } from './process.js';
import { spawnWatched, type WatchedProcess } from './watched-process.js';

export interface FencingStoreProcess {
  url: string;
  process: WatchedProcess;
  /** Stops the store, which stops its PostgreSQL and removes the data. */
  stop(): Promise<void>;
}

/**
 * Starts examples/fencing-store (its own PostgreSQL on a free port) with its own script, and stops it
 * after the test with SIGTERM, so the store stops its database in its own way.
 */
export async function startFencingStore(t: TestContext): Promise<FencingStoreProcess> {
  const started: { store?: WatchedProcess } = {};
  const stop = async () => {
    const { store } = started;
    if (!store || store.child.exitCode !== null || store.child.signalCode !== null) return;
    store.child.kill('SIGTERM');
    await store.finished(30_000);
  };
  // Registered before spawnWatched registers its SIGKILL of whatever still runs, so this runs first.
  t.after(stop);
  const store = spawnWatched(t, 'bash', [path.join(REPO_ROOT, 'examples', 'fencing-store', 'start.sh')]);
  started.store = store;
  await store.waitForStdout(/fencing store listening on http:\/\/\S+/, 90_000);
  const url = /fencing store listening on (http:\/\/\S+)/.exec(store.stdout())![1]!;
  return { url, process: store, stop };
}
