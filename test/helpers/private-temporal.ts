import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/logger.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { freePort, testCliPath } from './process.js';

/** A Temporal dev server of one test's own, which the test may kill and start again on the same port and data. */
export interface PrivateTemporal {
  /** host:port; the same after a restart. */
  address: string;
  /** SIGKILLs the server, as a crash would, and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and database. */
  restart(): Promise<void>;
  /** Stops it for good and removes its data. */
  stop(): Promise<void>;
}

/**
 * Starts a private dev server. The test registers `stop` as an after-hook itself, after those of the
 * services that use the server: after-hooks run in the order they were registered, and a service
 * must stop before its server (the outage test does the same).
 */
export async function startPrivateTemporal(): Promise<PrivateTemporal> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-private-temporal-'));
  const port = await freePort();
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const start = () =>
    startDevServer({ cliPath: testCliPath(), dataDir, port, uiPort: 0, namespace: 'default', readyTimeoutMs: 60_000, log });
  let server: DevServer | undefined = await start().catch(async (error: unknown) => {
    await fs.rm(dataDir, { recursive: true, force: true });
    throw error;
  });
  const address = server.address;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await server?.stop();
      server = undefined;
      await fs.rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  return {
    address,
    kill: async () => {
      if (!server) return;
      process.kill(server.pid, 'SIGKILL');
      // stop() only waits for the exit and forgets the pid file, as a later start expects.
      await server.stop();
      server = undefined;
    },
    restart: async () => {
      if (server) await server.stop();
      server = await start();
    },
    stop,
  };
}
