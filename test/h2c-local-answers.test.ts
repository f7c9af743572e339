// Answers from local endpoints to HTTP/2 (h2c) callers: a 426 that names the protocol it requires in an
// Upgrade field (connection-specific, which HTTP/2 forbids) reaches the caller as a 426 without it, not
// as a 502; a gRPC endpoint that answers before it has read a request body still held by flow control
// releases its stream on the gateway's connection to it (the stream is reset, not left open for good).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, createServer as createH2Server, type Http2Server } from 'node:http2';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { listenOnLoopback } from './helpers/listen-address.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.98.1';
let fabric: TestFabric;
let requiresTls: Server;
let early: Http2Server;

before(async () => {
  requiresTls = createHttpServer((_req, res) =>
    res.writeHead(426, { upgrade: 'TLS/1.2, HTTP/1.1', connection: 'Upgrade' }).end('upgrade required'),
  );
  // Reads nothing of a call's request, and answers it with a status 300 ms later.
  early = createH2Server();
  early.on('stream', (stream) => {
    stream.pause();
    setTimeout(() => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': '3', 'grpc-message': 'rejected' }),
      );
      stream.end();
    }, 300);
  });
  const requiresTlsAt = await listenOnLoopback(requiresTls, HOST);
  early.listen(0, HOST);
  await once(early, 'listening');
  const earlyAt = `${HOST}:${(early.address() as { port: number }).port}`;
  fabric = await TestFabric.start([
    {
      cluster: 'a',
      host: HOST,
      services: [
        { name: 'legacy', endpoints: [requiresTlsAt] },
        { name: 'early', protocol: 'grpc', endpoints: [earlyAt] },
      ],
    },
  ]);
});

after(async () => {
  await fabric?.close();
  requiresTls?.close();
  early?.close();
});

test('a 426 with Upgrade from a local HTTP/1.1 endpoint reaches an HTTP/2 caller as a 426', async (t) => {
  const session = connect(`http://${HOST}:${fabric.gateway('a').outboundPort}`);
  t.after(() => session.close());
  const stream = session.request({ ':path': '/', ':authority': 'legacy' });
  const [headers] = (await once(stream, 'response')) as [Record<string, string>];
  let body = '';
  stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
  await once(stream, 'end');
  assert.equal(headers[':status'], 426);
  assert.equal(headers.upgrade, undefined);
  assert.equal(body, 'upgrade required');
});

test('a call answered before its body was all sent releases its stream to the endpoint', async (t) => {
  const a = fabric.gateway('a');
  const session = connect(`http://${HOST}:${a.outboundPort}`);
  t.after(() => session.close());
  const call = session.request({
    ':method': 'POST',
    ':path': '/svc/Method',
    ':authority': 'early',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  // More than the endpoint's 64 KiB stream window: the end of the body waits for a WINDOW_UPDATE that
  // never comes.
  call.end(Buffer.alloc(70_000));
  const [trailers] = (await once(call, 'trailers')) as [Record<string, string>];
  assert.equal(trailers['grpc-status'], '3');
  const streams = () => a.dataPlane.state().upstreamPools.find((p) => p.protocol === 'grpc')?.streams;
  await waitFor('the stream to the endpoint to close', () => streams() === 0, 5_000);
});
