// A minimal PostgreSQL client: the frontend/backend protocol 3.0 over TCP, trust authentication,
// one statement at a time per connection with its parameters bound ($1, $2, …), so no value is ever
// spliced into SQL text. It is here so the example needs no npm package beyond the repository's;
// a real service would use `pg` or `postgres`.
import net from 'node:net';

/** A PostgreSQL error as the server reports it (`code` is the SQLSTATE). */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PgError';
  }
}

/** One result row, by column name; every value in text form (null for SQL NULL). */
export type Row = Record<string, string | null>;

interface Pending {
  rows: Row[];
  columns: string[];
  error?: PgError;
  resolve(rows: Row[]): void;
  reject(error: Error): void;
}

function cString(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

/** Reads the NUL-terminated fields of an ErrorResponse into a PgError. */
function errorFrom(body: Buffer): PgError {
  const fields = new Map<string, string>();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const type = String.fromCharCode(body[offset]!);
    const end = body.indexOf(0, offset + 1);
    fields.set(type, body.toString('utf8', offset + 1, end));
    offset = end + 1;
  }
  return new PgError(fields.get('M') ?? 'PostgreSQL error', fields.get('C'));
}

/** One connection. Statements queue and run one after another. */
export class PgConnection {
  private buffered = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private ready!: { resolve(): void; reject(error: Error): void };
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {}

  /** Connects and authenticates (the example's server trusts loopback connections). */
  static async connect(options: { host: string; port: number; user: string; database: string }): Promise<PgConnection> {
    const socket = net.connect({ host: options.host, port: options.port });
    const connection = new PgConnection(socket);
    const started = new Promise<void>((resolve, reject) => {
      connection.ready = { resolve, reject };
    });
    // Awaited below, once the socket is open; a failure before that must not count as unhandled.
    void started.catch(() => undefined);
    socket.on('data', (chunk) => connection.received(chunk));
    socket.on('error', (error) => connection.fail(error));
    socket.on('close', () => connection.fail(new Error('the PostgreSQL connection closed')));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const parameters = Buffer.concat([cString('user'), cString(options.user), cString('database'), cString(options.database), Buffer.from([0])]);
    const body = Buffer.concat([int32(196_608), parameters]);
    socket.write(Buffer.concat([int32(body.length + 4), body]));
    await started;
    return connection;
  }

  /** Runs one statement with its parameters ($1, $2, … in text form) and returns its rows. */
  query(sql: string, params: Array<string | null> = []): Promise<Row[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<Row[]>((resolve, reject) => {
      this.queue.push({ rows: [], columns: [], resolve, reject });
      const values = params.map((value) => (value === null ? int32(-1) : Buffer.concat([int32(Buffer.byteLength(value)), Buffer.from(value, 'utf8')])));
      this.socket.write(
        Buffer.concat([
          message('P', cString(''), cString(sql), int16(0)),
          message('B', cString(''), cString(''), int16(0), int16(params.length), ...values, int16(0)),
          message('D', Buffer.from('P'), cString('')),
          message('E', cString(''), int32(0)),
          message('S'),
        ]),
      );
    });
  }

  /** Ends the session. */
  async close(): Promise<void> {
    if (this.closedError) return;
    this.socket.end(message('X'));
    await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    this.ready?.reject(error);
    for (const pending of this.queue.splice(0)) pending.reject(error);
  }

  private received(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5) {
      const length = this.buffered.readInt32BE(1);
      if (this.buffered.length < length + 1) return;
      const type = String.fromCharCode(this.buffered[0]!);
      const body = this.buffered.subarray(5, length + 1);
      this.buffered = this.buffered.subarray(length + 1);
      this.handle(type, body);
    }
  }

  private handle(type: string, body: Buffer): void {
    const current = this.queue[0];
    switch (type) {
      case 'R': {
        const kind = body.readInt32BE(0);
        if (kind !== 0) this.fail(new Error(`PostgreSQL asked for authentication method ${kind}; the example expects trust`));
        return;
      }
      case 'T': {
        if (!current) return;
        let offset = 2;
        for (let field = 0; field < body.readInt16BE(0); field++) {
          const end = body.indexOf(0, offset);
          current.columns.push(body.toString('utf8', offset, end));
          offset = end + 1 + 18;
        }
        return;
      }
      case 'D': {
        if (!current) return;
        const row: Row = {};
        let offset = 2;
        for (let column = 0; column < body.readInt16BE(0); column++) {
          const size = body.readInt32BE(offset);
          offset += 4;
          row[current.columns[column] ?? String(column)] = size < 0 ? null : body.toString('utf8', offset, offset + size);
          offset += Math.max(0, size);
        }
        current.rows.push(row);
        return;
      }
      case 'E': {
        const error = errorFrom(body);
        if (current) current.error = error;
        else this.ready.reject(error);
        return;
      }
      case 'Z': {
        if (!current) {
          this.ready.resolve();
          return;
        }
        this.queue.shift();
        if (current.error) current.reject(current.error);
        else current.resolve(current.rows);
        return;
      }
      default:
        // ParameterStatus, BackendKeyData, ParseComplete, BindComplete, NoData, CommandComplete, notices.
        return;
    }
  }
}

/** A few connections, statements spread over them in turn. */
export class PgPool {
  private next = 0;

  private constructor(private readonly connections: PgConnection[]) {}

  /** Opens `size` connections. */
  static async open(options: Parameters<typeof PgConnection.connect>[0], size: number): Promise<PgPool> {
    const connections = await Promise.all(Array.from({ length: size }, () => PgConnection.connect(options)));
    return new PgPool(connections);
  }

  /** Runs one statement on one of the connections. */
  query(sql: string, params: Array<string | null> = []): Promise<Row[]> {
    const connection = this.connections[this.next++ % this.connections.length]!;
    return connection.query(sql, params);
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.connections.map((connection) => connection.close()));
  }
}
