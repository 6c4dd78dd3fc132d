import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { startFaultProxy } from '../helpers/fault-proxy.js';

/** A real echo server on loopback. */
async function echoServer(t: TestContext): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function connect(address: string) {
  const [host, port] = address.split(':');
  const socket = net.connect(Number(port), host);
  await new Promise((resolve) => socket.once('connect', resolve));
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const receivedText = () => received;
  const until = async (text: string) => {
    while (!received.includes(text)) await new Promise((resolve) => setImmediate(resolve));
  };
  return { socket, receivedText, until, closed };
}

test('the fault proxy relays, delays in order, stalls and resumes, swallows answers, and resets connections', async (t) => {
  const proxy = await startFaultProxy(t, await echoServer(t));
  const client = await connect(proxy.address);

  client.socket.write('a');
  await client.until('a');

  proxy.setDelay(150);
  const sentAt = Date.now();
  client.socket.write('b');
  client.socket.write('c');
  await client.until('abc');
  assert.ok(Date.now() - sentAt >= 290, 'each direction is delayed');
  proxy.setDelay(0);

  proxy.stall();
  client.socket.write('d');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(client.receivedText(), 'abc', 'nothing passes while stalled');
  proxy.resume();
  await client.until('abcd');

  proxy.swallowAnswers(true);
  client.socket.write('e');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(client.receivedText(), 'abcd', 'answers are swallowed');
  proxy.swallowAnswers(false);

  proxy.resetConnections();
  await client.closed;
  const again = await connect(proxy.address);
  again.socket.write('f');
  await again.until('f');
  again.socket.destroy();
  assert.equal(proxy.connections, 2);
});

test('bytes sent after the delay is lowered never overtake bytes still held by the earlier delay', async (t) => {
  const proxy = await startFaultProxy(t, await echoServer(t));
  const client = await connect(proxy.address);
  proxy.setDelay(300);
  client.socket.write('1');
  while (proxy.delayedChunks === 0) await new Promise((resolve) => setImmediate(resolve));
  proxy.setDelay(0);
  client.socket.write('2');
  await client.until('2');
  assert.equal(client.receivedText(), '12', 'the later byte overtook the one held by the delay');
  client.socket.destroy();
});

test('a delayed answer still arrives when its sender closes the connection right after sending it', async (t) => {
  // A server that answers and closes at once, as an HTTP server does for a `Connection: close` request.
  const server = net.createServer((socket) => socket.end('answer'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const proxy = await startFaultProxy(t, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  proxy.setDelay(200);
  const client = await connect(proxy.address);
  await client.closed;
  assert.equal(client.receivedText(), 'answer', 'the answer held by the delay was lost when the server closed');
});

test('after setTarget new connections reach the new target while open ones stay with the old one', async (t) => {
  /** A server that greets each connection with its name. */
  const greeter = async (name: string) => {
    const server = net.createServer((socket) => socket.end(name));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  };
  const proxy = await startFaultProxy(t, await greeter('old'));
  const newTarget = await greeter('new');
  const before = await connect(proxy.address);
  // The relay picks its target when it accepts the connection, which may come after the client's connect.
  while (proxy.connections < 1) await new Promise((resolve) => setImmediate(resolve));
  proxy.setTarget(newTarget);
  await before.closed;
  const after = await connect(proxy.address);
  await after.closed;
  assert.equal(before.receivedText(), 'old');
  assert.equal(after.receivedText(), 'new');
});
