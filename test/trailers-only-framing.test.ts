// A gRPC answer complete in its head (trailers-only: grpc-status in the head) ends the exchange with the
// head, so the body an HTTP/1.1 upstream framed it with is not forwarded, and neither is the upstream's
// Content-Length: the caller gets an empty body, framed as such. Before, `content-length: 5` reached the caller with no body,
// which left the caller (or, on a lane, the calling gateway) waiting for five bytes that never came.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';

const HOST = '127.0.73.1';
const TRAILERS_ONLY =
  'HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: 0\r\ncontent-length: 5\r\n\r\n\0\0\0\0\0';
let fabric: FailoverFabric;
/** An HTTP/1.1 endpoint answering every request with a trailers-only gRPC head and a 5-byte body. */
let legacy: Server;

before(async () => {
  legacy = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      // One answer per request head (the callers' small bodies are left in front of the next head).
      for (let at = buffered.indexOf('\r\n\r\n'); at >= 0; at = buffered.indexOf('\r\n\r\n')) {
        buffered = buffered.slice(at + 4);
        socket.write(TRAILERS_ONLY);
      }
    });
    socket.on('error', () => undefined);
  });
  legacy.listen(0, HOST);
  await once(legacy, 'listening');
  const { port } = legacy.address() as { port: number };
  fabric = await FailoverFabric.start(
    [
      singleCluster(HOST, {
        services: [{ name: 'legacy', protocol: 'http', endpoints: [`${HOST}:${port}`] }],
      }),
    ],
    {},
  );
});

after(async () => {
  await fabric?.close();
  legacy?.close();
});

for (const method of ['GET', 'POST']) {
  test(
    `a trailers-only answer to a gRPC ${method} reaches the caller with an empty body, not the upstream's length`,
    { timeout: 15_000 },
    async () => {
      const { outbound } = fabric.gateway('a');
      const answer = await httpCall(`http://${outbound.host}:${outbound.port}/echo.Echo/Unary`, {
        method,
        headers: { host: 'legacy', 'content-type': 'application/grpc' },
        ...(method === 'POST' ? { body: Buffer.from([0, 0, 0, 0, 0]) } : {}),
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['grpc-status'], '0');
      // The fast path (GET) states the empty body's length; Node's server (POST) frames it chunked.
      const framing = answer.headers['content-length'] ?? answer.headers['transfer-encoding'];
      assert.ok(framing === '0' || framing === 'chunked', `framed by ${framing}`);
      assert.equal(answer.body.length, 0);
    },
  );
}
