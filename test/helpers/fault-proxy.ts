import net from 'node:net';

// A TCP relay that a test puts between the service and Temporal (or a client and the service) to
// break the network on purpose: delay every byte, stall all traffic, swallow the answers, or reset
// every connection. It works below gRPC and HTTP, so the service sees what a real network does.

export interface FaultProxy {
  /** host:port of the proxy, for TEMPORAL_ADDRESS. */
  address: string;
  /** http://host:port of the proxy, for an HTTP client. */
  url: string;
  /** Delays every chunk, in both directions, by this many ms (0: none). Order is kept. */
  setDelay(ms: number): void;
  /** Holds every byte, in both directions, until resume(); connections stay open. */
  stall(): void;
  /** Sends what stall() held, in order, and lets traffic flow again. */
  resume(): void;
  /** While on, bytes from the target back to the client are thrown away: requests arrive, answers never do. */
  swallowAnswers(on: boolean): void;
  /** Destroys every open connection (both ends); new connections are accepted. */
  resetConnections(): void;
  /** Relays new connections to this "host:port" from now on; open ones stay where they are (see resetConnections). */
  setTarget(target: string): void;
  /** Connections opened so far. */
  readonly connections: number;
  /** Chunks held by a delay right now (sent, not yet passed on). */
  readonly delayedChunks: number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface Pipe {
  from: net.Socket;
  to: net.Socket;
  toClient: boolean;
}

/** Where the proxy registers its close: a node:test context, or the chaos run's cleanups. */
export interface CloseHook {
  after(fn: () => Promise<void>): void;
}

/** Starts a relay from a free loopback port to `target` ("host:port"); it closes when the test (or run) ends. */
export async function startFaultProxy(t: CloseHook, target: string): Promise<FaultProxy> {
  const hostAndPort = (address: string) => [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))] as const;
  let [host, port] = hostAndPort(target);
  const sockets = new Set<net.Socket>();
  let delayMs = 0;
  let stalled = false;
  let swallowing = false;
  let opened = 0;
  let delayedChunks = 0;
  const held: Array<{ pipe: Pipe; chunk: Buffer }> = [];
  /**
   * Per direction of each connection, the chunks a delay still holds, in arrival order, each with when
   * it is due. One queue drained in order, not a timer per chunk: timers of different lengths set at
   * different moments may fire out of order on a busy event loop, and a lowered delay must never let
   * new bytes overtake held ones, or the protocol above sees a corrupted stream.
   */
  const queues = new WeakMap<net.Socket, Array<{ pipe: Pipe; chunk: Buffer; due: number }>>();
  /** When the last chunk queued towards a socket is due (0 once its queue is empty). */
  /** Sockets whose other side closed while bytes towards them were still held: ended once those are written. */
  const endOnceDrained = new WeakSet<net.Socket>();

  const write = (pipe: Pipe, chunk: Buffer) => {
    if (!pipe.to.destroyed && !(pipe.toClient && swallowing)) pipe.to.write(chunk);
  };
  const drain = (to: net.Socket) => {
    const queue = queues.get(to);
    if (!queue) return;
    while (queue.length > 0 && queue[0]!.due <= Date.now()) {
      const { pipe, chunk } = queue.shift()!;
      delayedChunks--;
      write(pipe, chunk);
    }
    if (queue.length > 0) {
      setTimeout(() => drain(to), queue[0]!.due - Date.now());
      return;
    }
    queues.delete(to);
    if (endOnceDrained.delete(to)) to.end();
  };
  const deliver = (pipe: Pipe, chunk: Buffer) => {
    if (pipe.toClient && swallowing) return;
    if (pipe.to.destroyed) return;
    const queue = queues.get(pipe.to);
    const due = Date.now() + delayMs;
    if (!queue && due <= Date.now()) {
      pipe.to.write(chunk);
      return;
    }
    delayedChunks++;
    if (queue) {
      // Never due before the chunks ahead of it; the running drain's timer will reach it.
      queue.push({ pipe, chunk, due: Math.max(due, queue.at(-1)?.due ?? 0) });
      return;
    }
    queues.set(pipe.to, [{ pipe, chunk, due }]);
    setTimeout(() => drain(pipe.to), due - Date.now());
  };

  const server = net.createServer((incoming) => {
    opened++;
    const outgoing = net.connect(port, host);
    for (const [socket, other] of [
      [incoming, outgoing],
      [outgoing, incoming],
    ] as const) {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        // Bytes it sent that a delay still holds must reach the other side before that side closes:
        // a server that answers and closes (`Connection: close`) would otherwise lose its answer.
        if (queues.has(other) && !socket.errored) endOnceDrained.add(other);
        else other.destroy();
      });
      socket.on('error', () => socket.destroy());
    }
    const pipes: Pipe[] = [
      { from: incoming, to: outgoing, toClient: false },
      { from: outgoing, to: incoming, toClient: true },
    ];
    for (const pipe of pipes) {
      pipe.from.on('data', (chunk: Buffer) => {
        if (stalled) held.push({ pipe, chunk });
        else deliver(pipe, chunk);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as net.AddressInfo;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closing;
  };
  t.after(close);

  return {
    address: `127.0.0.1:${proxyPort}`,
    url: `http://127.0.0.1:${proxyPort}`,
    setDelay: (ms) => {
      delayMs = ms;
    },
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const { pipe, chunk } of held.splice(0)) deliver(pipe, chunk);
    },
    swallowAnswers: (on) => {
      swallowing = on;
    },
    resetConnections: () => {
      held.length = 0;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    setTarget: (address) => {
      [host, port] = hostAndPort(address);
    },
    get connections() {
      return opened;
    },
    get delayedChunks() {
      return delayedChunks;
    },
    close,
  };
}
