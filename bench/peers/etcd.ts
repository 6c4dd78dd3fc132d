// etcd with the etcd3 package's lock: a lease plus a put-if-absent transaction; release revokes
// the lease. It is a try-lock (it fails at once when held) and a mutex only. Waiting is built the
// way etcd intends: a watch on the lock key wakes the waiter when the key is deleted.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Etcd3, EtcdLockFailedError, type Watcher } from 'etcd3';
import { freePort } from '../../test/helpers/process.js';
import { onCleanup } from '../cleanup.js';
import { KeepAliveHttp } from '../http-client.js';
import type { AcquireRequest, HeldLock, LockClient, LockSystem } from '../lock-client.js';
import { startPeerProcess, type PeerProcess } from './peer-process.js';

/** A waiter also retries this often without a watch event, in case an event was lost. */
const SAFETY_RETRY_MS = 1_000;

export interface EtcdPeer {
  system: LockSystem;
  version: string;
  process: PeerProcess;
}

/** Resolves on the watcher's next delete event; cancel() removes the listener if it never comes. */
function nextDelete(watcher: Watcher): { deleted: Promise<void>; cancel(): void } {
  let listener: (() => void) | undefined;
  const deleted = new Promise<void>((resolve) => {
    listener = () => resolve();
    watcher.once('delete', listener);
  });
  return { deleted, cancel: () => watcher.off('delete', listener!) };
}

class EtcdLockClient implements LockClient {
  constructor(private readonly etcd: Etcd3) {}

  async acquire({ resource, capacity, leaseMs, waitMs, signal }: AcquireRequest): Promise<HeldLock> {
    if (capacity !== 1) throw new Error('etcd3 locks are mutexes; capacity must be 1');
    const ttlSeconds = Math.max(1, Math.ceil(leaseMs / 1000));
    const tryOnce = async (): Promise<HeldLock> => {
      const lock = this.etcd.lock(resource).ttl(ttlSeconds);
      const sentAtMs = Date.now();
      await lock.acquire();
      return { expiresAtMs: sentAtMs + ttlSeconds * 1000, release: () => lock.release() };
    };
    if (waitMs === 0) return tryOnce();

    // The watch exists before the first try, so a release between a failed try and the wait is seen.
    const watcher = await this.etcd.watch().key(resource).create();
    const deadline = Date.now() + waitMs;
    try {
      for (;;) {
        signal?.throwIfAborted();
        const next = nextDelete(watcher);
        try {
          return await tryOnce();
        } catch (error) {
          if (!(error instanceof EtcdLockFailedError)) throw error;
        }
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) {
          next.cancel();
          throw new Error(`etcd lock ${resource}: not acquired within ${waitMs} ms`);
        }
        const aborted = new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
        await Promise.race([next.deleted, delay(Math.min(remainingMs, SAFETY_RETRY_MS)), aborted]);
        next.cancel();
      }
    } finally {
      await watcher.cancel();
    }
  }

  async close(): Promise<void> {
    this.etcd.close();
  }
}

/** etcd answers JSON with or without saying so; compare its text either way. */
function asText(body: unknown): string {
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/** Starts a single-member etcd on free loopback ports with its data in a temp dir; throws PeerSkipped when it cannot. */
export async function startEtcdPeer(): Promise<EtcdPeer> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lock-service-bench-etcd-'));
  onCleanup('remove the etcd data dir', () => fs.rm(dataDir, { recursive: true, force: true }));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const probe = new KeepAliveHttp(clientUrl);
  const process = await startPeerProcess(
    'etcd',
    [
      '--name', 'bench',
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `bench=${peerUrl}`,
      '--log-level', 'error',
    ],
    async () => {
      const answer = await probe.request('GET', '/health');
      return answer.status === 200 && asText(answer.body).includes('"health":"true"');
    },
  );
  const versionAnswer = await probe.request('GET', '/version');
  probe.close();
  const version = /"etcdserver":"([^"]+)"/.exec(asText(versionAnswer.body))?.[1] ?? 'unknown';
  return {
    version,
    process,
    system: {
      name: `etcd ${version} + etcd3 lock`,
      connect: async () => new EtcdLockClient(new Etcd3({ hosts: clientUrl })),
    },
  };
}
