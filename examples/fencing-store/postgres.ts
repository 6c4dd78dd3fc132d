// Starts a throwaway PostgreSQL from Debian's `postgresql` package: a new cluster in a temp dir,
// listening on a free loopback port, stopped and removed by stop().
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { processRunning, spawnSupervised } from '../../src/temporal/supervised-process.js';
import { PgConnection } from './pg-wire.js';

const run = promisify(execFile);

export interface Postgres {
  host: string;
  port: number;
  user: string;
  database: string;
  /** The server's process id (the postmaster); a new one after restart(). */
  readonly pid: number;
  /** SIGKILL of the postmaster, as in a crash; its data stays. Resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same data and port (crash recovery) and waits until it takes a session. */
  restart(): Promise<void>;
  /** Stops the server (fast shutdown) and removes its data. */
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** Default: a free loopback port. */
  port?: number;
  /** The superuser's name (trust authentication, no password). Default: postgres as root, else the OS user. */
  user?: string;
  /** Default 50. */
  maxConnections?: number;
}

/** The directory of Debian's PostgreSQL binaries (the newest installed major version), or of `postgres` on PATH. */
export function findPostgresBin(): string {
  const debian = '/usr/lib/postgresql';
  if (fs.existsSync(debian)) {
    const versions = fs
      .readdirSync(debian)
      .filter((version) => fs.existsSync(path.join(debian, version, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(debian, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error('PostgreSQL is not installed: apt-get install postgresql (Debian), or put postgres and initdb on PATH');
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * PostgreSQL refuses to run as root; as root the cluster belongs to Debian's `postgres` user, and its
 * commands run through `runuser`.
 */
function asServerUser(command: string, args: string[]): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command, args };
  return { command: 'runuser', args: ['-u', 'postgres', '--', command, ...args] };
}

/**
 * Waits until the server takes a session: it accepts TCP connections a moment before it is ready
 * ("the database system is starting up").
 */
async function untilAccepting(options: { host: string; port: number; user: string }, running: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!running()) throw new Error(`postgres exited during start-up:\n${log()}`);
    try {
      const connection = await PgConnection.connect({ ...options, database: 'postgres' });
      await connection.query('SELECT 1');
      await connection.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`postgres did not take a session within 60 s (${(error as Error).message}):\n${log()}`, { cause: error });
      }
    }
    await delay(100);
  }
}

/** Creates a cluster in a new temp dir and starts it on a free port (or `port`). */
export async function startPostgres(options: PostgresOptions = {}): Promise<Postgres> {
  const bin = findPostgresBin();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'fencing-store-pg-'));
  const dataDir = path.join(dir, 'data');
  const root = process.getuid?.() === 0;
  const user = options.user ?? (root ? 'postgres' : os.userInfo().username);
  if (root) await run('chown', ['postgres:postgres', dir]);
  const initdb = asServerUser(path.join(bin, 'initdb'), ['-D', dataDir, '-U', user, '--auth=trust', '--encoding=UTF8', '--no-locale']);
  try {
    await run(initdb.command, initdb.args);
  } catch (error) {
    await fsp.rm(dir, { recursive: true, force: true });
    throw error;
  }
  const host = '127.0.0.1';
  const port = options.port ?? (await freePort());
  // The socket directory is the temp dir, so the cluster touches nothing outside it; fsync stays on
  // (a store that loses accepted writes on a crash would prove nothing).
  const server = asServerUser(path.join(bin, 'postgres'), [
    '-D', dataDir, '-h', host, '-p', String(port), '-k', dir, '-c', `max_connections=${options.maxConnections ?? 50}`,
  ]);
  const removeAll = () => fsp.rm(dir, { recursive: true, force: true });

  /** Starts the postmaster under the repository's supervisor and waits until it takes a session. */
  const launch = async () => {
    // Under the repository's process supervisor: when this process dies, however it dies, the
    // supervisor's pipe closes and it stops PostgreSQL, so no cluster outlives its store.
    const supervised = await spawnSupervised(server.command, server.args, { graceMs: 10_000 });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    };
    supervised.supervisor.stdout!.on('data', keep);
    supervised.supervisor.stderr!.on('data', keep);
    try {
      await untilAccepting({ host, port, user }, () => processRunning(supervised.pid), () => output);
    } catch (error) {
      await supervised.stop();
      throw error;
    }
    // Through runuser, the postmaster is runuser's child; its pid file names it.
    const pid = Number((await fsp.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return { supervised, pid };
  };

  let current: Awaited<ReturnType<typeof launch>>;
  try {
    current = await launch();
  } catch (error) {
    await removeAll();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    host,
    port,
    user,
    database: 'postgres',
    get pid() {
      return current.pid;
    },
    kill: async () => {
      try {
        process.kill(current.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await current.supervised.stop();
    },
    restart: async () => {
      // The killed postmaster's backends notice its death and exit on their own; until the last one
      // has, its shared memory is still in use and a new postmaster refuses to start: try again.
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          current = await launch();
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await delay(250);
        }
      }
    },
    stop: () => {
      stopping ??= (async () => {
        try {
          process.kill(current.pid, 'SIGINT'); // fast shutdown: sessions still open are ended
        } catch {
          // already gone
        }
        await current.supervised.stop();
        await removeAll();
      })();
      return stopping;
    },
  };
}
