// The fast path's keep-alive timeout counts idle time only: a request slower than the idle timeout is
// still answered, and the connection closes once it has been idle for the timeout after the answer.
// Real sockets on loopback; a FastConnection with a host whose answer comes late.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { FastConnection, type FastPathHost } from '../gateway/listeners/h1-fast-path.js';
import type { TargetStats } from '../gateway/routing/route-targets.js';

const IDLE_MS = 300;
const SLOW_ANSWER_MS = 3 * IDLE_MS;

const noStats: TargetStats = { record: () => undefined };

function slowHost(): FastPathHost {
  return {
    keepAliveTimeoutMs: IDLE_MS,
    noRouteStats: noStats,
    onOutcome: undefined,
    draining: false,
    route: (_head, _body, sink) => {
      setTimeout(() => {
        sink.head(200, { 'content-length': '2' }, false);
        sink.data(Buffer.from('ok'));
        sink.end(null);
      }, SLOW_ANSWER_MS);
    },
    handOver: (socket) => socket.destroy(),
  };
}

async function listen(host: FastPathHost): Promise<Server> {
  const server = createServer((socket) => new FastConnection(socket, host, null));
  server.listen(0, '127.0.4.1');
  await once(server, 'listening');
  return server;
}

test('a request slower than the idle timeout is answered; the idle connection then closes', async () => {
  const server = await listen(slowHost());
  const { port } = server.address() as { port: number };
  const client: Socket = connect(port, '127.0.4.1');
  await once(client, 'connect');
  let received = '';
  client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = once(client, 'close');
  const sentAt = performance.now();
  client.write('GET / HTTP/1.1\r\nHost: slow\r\n\r\n');
  await closed;
  const elapsedMs = performance.now() - sentAt;
  console.log(
    `answered after a ${SLOW_ANSWER_MS} ms wait, closed ${Math.round(elapsedMs)} ms after the request`,
  );
  assert.match(received, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  assert.ok(elapsedMs >= SLOW_ANSWER_MS + IDLE_MS * 0.9, `closed too early: ${elapsedMs} ms`);
  assert.ok(elapsedMs < SLOW_ANSWER_MS + IDLE_MS + 5_000, `closed too late: ${elapsedMs} ms`);
  server.close();
});
