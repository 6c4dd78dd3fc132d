// The fencing store: a key-value service in front of PostgreSQL that accepts a write only when the
// write's fencing number is at least the highest it has accepted for that key. The check and the
// write are one conditional UPDATE … WHERE: PostgreSQL locks the row, and a concurrent update that
// waited for the lock re-checks the WHERE against the row as committed, so there is no window
// between reading the highest number and writing.
import http from 'node:http';
import type { PgPool } from './pg-wire.js';

/** Keys: a resource name, or `<resource>.<slot>` for one slot of a resource of several. */
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,191}$/;
const FENCING_SEQ_PATTERN = /^(0|[1-9][0-9]{0,18})$/;
const MAX_BODY_BYTES = 64 * 1024;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS fenced_values (
  key text PRIMARY KEY,
  highest_seq numeric(20, 0) NOT NULL,
  value text,
  writes bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS accepted_writes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key text NOT NULL,
  fencing_seq numeric(20, 0) NOT NULL,
  writer text,
  value text,
  accepted_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS accepted_writes_by_key ON accepted_writes (key, id);
`;

/** A key's first write needs its row; creating it decides nothing (0 is below every fencing number). */
const ENSURE_ROW = 'INSERT INTO fenced_values (key, highest_seq) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING';

/**
 * The whole rule: the UPDATE matches only while the stored number is not above the write's, and the
 * accepted write is logged in the same statement, so the log's order per key is the order of the
 * row's updates.
 */
const FENCED_WRITE = `
WITH accepted AS (
  UPDATE fenced_values SET highest_seq = $2::numeric, value = $3, writes = writes + 1
  WHERE key = $1 AND highest_seq <= $2::numeric
  RETURNING key, highest_seq
)
INSERT INTO accepted_writes (key, fencing_seq, writer, value)
SELECT key, highest_seq, $4, $3 FROM accepted
RETURNING id, fencing_seq::text AS fencing_seq`;

interface Answer {
  status: number;
  body: unknown;
}

function problem(status: number, error: string, message: string, extra: Record<string, unknown> = {}): Answer {
  return { status, body: { error, message, ...extra } };
}

async function readJson(request: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RangeError(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

/** The store's routes over a pool whose database has SCHEMA. */
export function createStoreHandler(pool: PgPool): (request: http.IncomingMessage) => Promise<Answer> {
  async function write(key: string, body: unknown): Promise<Answer> {
    const { fencingSeq, value = null, writer = null } = (body ?? {}) as Record<string, unknown>;
    if (typeof fencingSeq !== 'string' || !FENCING_SEQ_PATTERN.test(fencingSeq)) {
      return problem(400, 'bad_request', 'fencingSeq must be the permit\'s fencing number, a decimal string such as "1048587"');
    }
    if (value !== null && typeof value !== 'string') return problem(400, 'bad_request', 'value must be a string');
    if (writer !== null && typeof writer !== 'string') return problem(400, 'bad_request', 'writer must be a string');
    await pool.query(ENSURE_ROW, [key]);
    const [accepted] = await pool.query(FENCED_WRITE, [key, fencingSeq, value, writer]);
    if (accepted) return { status: 200, body: { accepted: true, key, id: Number(accepted.id), fencingSeq: accepted.fencing_seq } };
    // Only to say why: the refusal was decided by the UPDATE above.
    const [row] = await pool.query('SELECT highest_seq::text AS highest_seq FROM fenced_values WHERE key = $1', [key]);
    return problem(409, 'stale_fencing_seq', `fencingSeq ${fencingSeq} is below ${row?.highest_seq}, the highest this store has accepted for "${key}"`, {
      highestSeq: row?.highest_seq,
    });
  }

  async function read(key: string): Promise<Answer> {
    const [row] = await pool.query('SELECT highest_seq::text AS highest_seq, value, writes::text AS writes FROM fenced_values WHERE key = $1', [key]);
    if (!row) return problem(404, 'not_found', `nothing has been written to "${key}"`);
    return { status: 200, body: { key, highestSeq: row.highest_seq, value: row.value, writes: Number(row.writes) } };
  }

  async function log(key: string): Promise<Answer> {
    const rows = await pool.query(
      `SELECT id::text AS id, fencing_seq::text AS fencing_seq, writer, value, accepted_at FROM accepted_writes WHERE key = $1 ORDER BY accepted_writes.id`,
      [key],
    );
    return {
      status: 200,
      body: {
        key,
        writes: rows.map((row) => ({ id: Number(row.id), fencingSeq: row.fencing_seq, writer: row.writer, value: row.value, acceptedAt: row.accepted_at })),
      },
    };
  }

  return async (request) => {
    const url = new URL(request.url ?? '/', 'http://store');
    if (url.pathname === '/healthz') return { status: 200, body: { status: 'ok' } };
    const match = /^\/keys\/([^/]+)(\/writes)?$/.exec(url.pathname);
    if (!match) return problem(404, 'not_found', `no route ${request.method} ${url.pathname}`);
    const key = decodeURIComponent(match[1]!);
    if (!KEY_PATTERN.test(key)) return problem(400, 'bad_request', 'the key must be 1-192 of A-Z a-z 0-9 . _ -, starting with a letter or digit');
    if (match[2] && request.method === 'POST') {
      let body: unknown;
      try {
        body = await readJson(request);
      } catch (error) {
        return problem(400, 'bad_request', `the body must be JSON: ${(error as Error).message}`);
      }
      return write(key, body);
    }
    if (match[2] && request.method === 'GET') return log(key);
    if (!match[2] && request.method === 'GET') return read(key);
    return problem(405, 'method_not_allowed', `${request.method} is not allowed on ${url.pathname}`);
  };
}

/** An HTTP server answering with the store's routes; errors of the database answer 503. */
export function createStoreServer(pool: PgPool, log: (line: string) => void): http.Server {
  const handle = createStoreHandler(pool);
  return http.createServer((request, response) => {
    handle(request)
      .catch((error: unknown): Answer => {
        log(`database error: ${(error as Error).message}`);
        return problem(503, 'store_unavailable', 'the database did not answer; try again');
      })
      .then(({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      })
      .catch(() => response.destroy());
  });
}
