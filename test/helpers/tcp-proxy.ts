import net from 'node:net';
import type { TestContext } from 'node:test';

export interface TcpProxy {
  url: string;
  /** Drops every connection and refuses new ones: the service becomes unreachable through this proxy. */
  cut(): Promise<void>;
}

/** A real TCP relay to a listening service, so a test can make the network fail between a client and it. */
export async function startTcpProxy(t: TestContext, targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((incoming) => {
    const outgoing = net.connect(Number(target.port), target.hostname);
    for (const socket of [incoming, outgoing]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    incoming.pipe(outgoing).pipe(incoming);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let closed: Promise<void> | undefined;
  const cut = () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closed;
  };
  t.after(cut);
  return { url: `http://127.0.0.1:${port}`, cut };
}
