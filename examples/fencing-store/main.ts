// `examples/fencing-store/start.sh`: starts a PostgreSQL of its own (Debian's package, a temp dir, a free
// port) and the fencing store in front of it, prints the store's URL, and stops both on Ctrl-C or SIGTERM.
import type { AddressInfo } from 'node:net';
import { PgPool } from './pg-wire.js';
import { startPostgres } from './postgres.js';
import { SCHEMA, createStoreServer } from './store.js';

const say = (line: string) => process.stderr.write(`fencing-store: ${line}\n`);

const postgres = await startPostgres();
let pool: PgPool | undefined;
try {
  pool = await PgPool.open(postgres, 8);
  for (const statement of SCHEMA.split(';').map((text) => text.trim()).filter(Boolean)) await pool.query(statement);
} catch (error) {
  await pool?.close();
  await postgres.stop();
  throw error;
}
const server = createStoreServer(pool, say);
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
say(`PostgreSQL (pid ${postgres.pid}) on ${postgres.host}:${postgres.port}, its data in a temp dir removed at exit`);
// The one line on stdout: scripts and tests read the URL from it.
process.stdout.write(`fencing store listening on http://127.0.0.1:${port}\n`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping`);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await pool?.close().catch(() => undefined);
  await postgres.stop();
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
