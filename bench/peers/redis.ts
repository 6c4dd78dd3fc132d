// Redis with redis-semaphore: what a Node team would reach for instead. Mutex for capacity 1
// (SET NX PX), Semaphore for more (a sorted set in a Lua script). Waiting is client-side polling
// every RETRY_INTERVAL_MS, the library's default, so hand-off figures depend on that interval.
import { Redis } from 'ioredis';
import { Mutex, Semaphore, defaultTimeoutOptions } from 'redis-semaphore';
import { freePort } from '../../test/helpers/process.js';
import type { AcquireRequest, HeldLock, LockClient, LockSystem } from '../lock-client.js';
import { startPeerProcess, type PeerProcess } from './peer-process.js';

/** redis-semaphore's own default, stated so the report can show it. */
export const RETRY_INTERVAL_MS = defaultTimeoutOptions.retryInterval;

export interface RedisPeer {
  system: LockSystem;
  version: string;
  process: PeerProcess;
}

function connect(port: number): Redis {
  // No offline queue and no reconnecting: a dead server should fail a call, not hang it.
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  return redis;
}

/** One connect + PING on a fresh connection, which is closed again either way. */
async function answersPing(port: number): Promise<boolean> {
  const probe = connect(port);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } finally {
    probe.disconnect();
  }
}

class RedisLockClient implements LockClient {
  constructor(private readonly redis: Redis) {}

  async acquire({ resource, capacity, leaseMs, waitMs, signal }: AcquireRequest): Promise<HeldLock> {
    const options = {
      lockTimeout: leaseMs,
      acquireTimeout: Math.max(waitMs, 1),
      acquireAttemptsLimit: waitMs === 0 ? 1 : Number.POSITIVE_INFINITY,
      retryInterval: RETRY_INTERVAL_MS,
      // No background refresh: like the service, a lease lasts until released or expired.
      refreshInterval: 0,
    };
    const lock = capacity === 1 ? new Mutex(this.redis, resource, options) : new Semaphore(this.redis, resource, capacity, options);
    const sentAtMs = Date.now();
    await lock.acquire(signal);
    return { expiresAtMs: sentAtMs + leaseMs, release: () => lock.release() };
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/** Starts redis-server on a free loopback port without persistence; throws PeerSkipped when it cannot. */
export async function startRedisPeer(): Promise<RedisPeer> {
  const port = await freePort();
  const process = await startPeerProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    () => answersPing(port),
  );
  const probe = connect(port);
  await probe.connect();
  const info = await probe.info('server');
  probe.disconnect();
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return {
    version,
    process,
    system: {
      name: `Redis ${version} + redis-semaphore`,
      connect: async () => {
        const redis = connect(port);
        await redis.connect();
        return new RedisLockClient(redis);
      },
    },
  };
}
