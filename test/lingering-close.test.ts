// A lingering close: a connection the gateway ended keeps reading what its caller still sends, but not
// for longer than LINGER_MAX_MS however busy the caller keeps it (its idle timer never fires then): on a
// socket the gateway answered itself, and on the fast path after an answer that closes the connection.
// A drain does not wait for a lingering connection. An answer that keeps its connection while the rest
// of its request's body is dropped closes it if that body is not done within LINGER_MAX_MS.
import { mock, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { FastConnection, type FastPathHost } from '../gateway/listeners/h1-fast-path.js';
import { dropRestOfBody, linger, LINGER_MAX_MS } from '../gateway/listeners/lingering-close.js';
import { startBareOutboundListener } from './helpers/bare-outbound-listener.js';
import { halfOpenConnection } from './helpers/half-open-connection.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.94.1';

function connection(t: TestContext): Promise<{ caller: Socket; socket: Socket }> {
  return halfOpenConnection(t, HOST);
}

/** Once the caller got its FIN: a caller that keeps sending is read until the cap, then closed. */
async function readUntilCap(t: TestContext, caller: Socket, socket: Socket): Promise<void> {
  await once(caller, 'end');
  // A caller that keeps sending keeps the connection past the idle time (LINGER_MS) …
  const sending = setInterval(() => caller.write(Buffer.alloc(1024)), 20);
  t.after(() => clearInterval(sending));
  let read = 0;
  socket.on('data', (chunk: Buffer) => (read += chunk.length));
  while (read < 16 * 1024) await once(socket, 'data');
  assert.equal(socket.destroyed, false);
  // … until the cap.
  mock.timers.tick(LINGER_MAX_MS - 1);
  assert.equal(socket.destroyed, false);
  mock.timers.tick(1);
  assert.equal(socket.destroyed, true);
}

test('a lingering connection reads a busy caller until LINGER_MAX_MS, then closes', async (t) => {
  const { caller, socket } = await connection(t);
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  socket.end('answered\n');
  linger(socket);
  await readUntilCap(t, caller, socket);
});

test('the fast path lingers after an answer that closes the connection, for at most LINGER_MAX_MS', async (t) => {
  const { caller, socket } = await connection(t);
  const host: FastPathHost = {
    keepAliveTimeoutMs: 60_000,
    noRouteStats: { record: () => undefined },
    onOutcome: undefined,
    draining: false,
    route: (_head, _body, sink) => sink.head(204, {}, true),
    handOver: (handed) => handed.destroy(),
  };
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  new FastConnection(socket, host, null);
  caller.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  await readUntilCap(t, caller, socket);
});

test('a drain closes a connection lingering after its last answer, however busy its caller', async (t) => {
  const listener = await startBareOutboundListener(t, HOST, {
    onRequest: (_req, res) => res.writeHead(404, { connection: 'close', 'content-length': '0' }).end(),
  });
  const caller = connect({ host: HOST, port: listener.port, allowHalfOpen: true });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  await once(caller, 'connect');
  caller.resume();
  caller.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n');
  await once(caller, 'end');
  const sending = setInterval(() => caller.write(Buffer.alloc(1024)), 20);
  t.after(() => clearInterval(sending));
  assert.equal(listener.openConnections, 1);
  listener.drain();
  await waitFor('the lingering connection to close', () => listener.openConnections === 0, 2_000);
});

test('a body still being dropped LINGER_MAX_MS after its answer closes the connection', async (t) => {
  const server = createHttpServer((req, res) => {
    res.writeHead(413, { 'content-length': '0' });
    dropRestOfBody(req);
    res.end();
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  t.after(() => server.close());
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const caller = connect({ host: HOST, port: (server.address() as { port: number }).port });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  const [socket] = await accepted;
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  caller.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000000\r\n\r\n');
  await once(caller, 'data');
  const sending = setInterval(() => caller.write(Buffer.alloc(1024)), 20);
  t.after(() => clearInterval(sending));
  const read = socket.bytesRead;
  while (socket.bytesRead < read + 16 * 1024) await once(socket, 'data');
  mock.timers.tick(LINGER_MAX_MS - 1);
  assert.equal(socket.destroyed, false);
  mock.timers.tick(1);
  assert.equal(socket.destroyed, true);
});
