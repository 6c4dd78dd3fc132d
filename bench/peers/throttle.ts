// Throttle (crates.io: throttle-server), an HTTP semaphore service: the nearest thing to this one.
// State lives in its memory only: no persistence, no fencing token. A caller registers a peer
// (POST /new_peer), acquires a count of a semaphore for it (PUT /peers/{id}/{semaphore}, which
// long-polls up to `block_for` and answers 202 while still pending), and releases by deleting the
// peer. A peer expires `expires_in` after its last acquire or heartbeat, which frees its locks:
// that is the lease. Semaphores must be declared in its TOML configuration before use.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/helpers/process.js';
import { onCleanup } from '../cleanup.js';
import { KeepAliveHttp } from '../http-client.js';
import type { AcquireRequest, HeldLock, LockClient, LockSystem } from '../lock-client.js';
import { startPeerProcess, type PeerProcess } from './peer-process.js';

/** Where `npm run bench:peers` installs it (cargo install --root), unless `throttle` is on PATH. */
export function throttleInstallDir(): string {
  return path.join(process.env.TEMPORAL_CLI_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'temporal-lock-service'), 'peers', 'throttle');
}

/** One long-poll asks for at most this long; a longer wait repeats it (Throttle's own client does the same). */
const BLOCK_FOR_MS = 20_000;

export interface ThrottlePeer {
  system: LockSystem;
  version: string;
  process: PeerProcess;
}

class ThrottleLockClient implements LockClient {
  constructor(private readonly http: KeepAliveHttp) {}

  /** The semaphore's capacity is the one its configuration declares; the request's is not sent. */
  async acquire({ resource, leaseMs, waitMs, signal }: AcquireRequest): Promise<HeldLock> {
    const created = await this.http.requestText('POST', '/new_peer', { expires_in: `${leaseMs}ms` }, signal);
    if (created.status !== 200) throw new Error(`throttle new_peer: HTTP ${created.status} ${created.text}`);
    // A 64-bit random number: kept as its decimal text, which JSON.parse would round.
    const peer = created.text.trim();
    const release = async () => {
      const answer = await this.http.requestText('DELETE', `/peers/${peer}`);
      if (answer.status !== 200) throw new Error(`throttle release ${peer}: HTTP ${answer.status} ${answer.text}`);
    };
    const deadline = Date.now() + waitMs;
    try {
      for (;;) {
        const blockMs = Math.min(Math.max(deadline - Date.now(), 0), BLOCK_FOR_MS);
        const query = `expires_in=${leaseMs}ms${blockMs > 0 ? `&block_for=${blockMs}ms` : ''}`;
        // The lease counts from this request (it sets the peer's expiry), so take the time before sending it.
        const sentAtMs = Date.now();
        const answer = await this.http.requestText('PUT', `/peers/${peer}/${encodeURIComponent(resource)}?${query}`, 1, signal);
        if (answer.status === 200) return { expiresAtMs: sentAtMs + leaseMs, release };
        if (answer.status !== 202) throw new Error(`throttle acquire ${resource}: HTTP ${answer.status} ${answer.text}`);
        if (Date.now() >= deadline) throw new Error(`throttle ${resource}: not acquired within ${waitMs} ms`);
      }
    } catch (error) {
      // Deleting the peer withdraws its pending demand, so a waiter that gave up blocks nobody.
      await release().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

/** The TOML that declares every semaphore the benchmark will use, with its capacity. */
export function throttleConfiguration(semaphores: Record<string, number>): string {
  const lines = Object.entries(semaphores).map(([name, max]) => `${JSON.stringify(name)} = ${max}`);
  return `[semaphores]\n${lines.join('\n')}\n`;
}

/** Starts Throttle on a free loopback port with these semaphores declared; throws PeerSkipped when it cannot. */
export async function startThrottlePeer(semaphores: Record<string, number>): Promise<ThrottlePeer> {
  const port = await freePort();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-bench-throttle-'));
  onCleanup('remove the throttle config dir', () => fs.rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'throttle.toml');
  await fs.writeFile(configFile, throttleConfiguration(semaphores));
  const url = `http://127.0.0.1:${port}`;
  const probe = new KeepAliveHttp(url);
  const installed = path.join(throttleInstallDir(), 'bin', 'throttle');
  const binary = (await fs.access(installed).then(() => true, () => false)) ? installed : 'throttle';
  const process = await startPeerProcess(
    binary,
    ['--address', '127.0.0.1', '--port', String(port), '--configuration', configFile],
    async () => (await probe.requestText('GET', '/health')).status === 200,
  );
  const version = (await probe.requestText('GET', '/version')).text.trim().replace(/^"|"$/g, '') || 'unknown';
  probe.close();
  return {
    version,
    process,
    system: {
      name: `Throttle ${version}`,
      connect: async () => new ThrottleLockClient(new KeepAliveHttp(url, 1)),
    },
  };
}
