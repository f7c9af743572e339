// H2Exchange on a real HTTP/2 server: an answer is passed on as ended only when it really ended. Node
// ends a stream's readable side, with no error, also when the stream closes without END_STREAM (a reset
// with NO_ERROR, the session destroyed under it, our own connection destroyed): such an answer, short of
// its Content-Length, without its grpc-status, or closed with an error code, fails instead. Answers that
// did end (with a Content-Length, to HEAD, 204, gRPC with trailers or trailers-only, gRPC-Web with its
// status in the body) still end, many at
// once on one connection.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../gateway/errors.js';
import { H2Connection } from '../gateway/transport/h2-connection.js';
import {
  newHeaderMap,
  type HeaderMap,
  type ProxyRequest,
  type ResponseSink,
} from '../gateway/upstream/exchange.js';
import { H2Exchange, h2RequestHeaders } from '../gateway/upstream/h2-exchange.js';
import { waitFor } from './helpers/wait.js';

/** What the exchange handed the downstream: the answer ended, or failed, and with which body. */
class RecordingSink implements ResponseSink {
  status = 0;
  body = '';
  trailers: HeaderMap | null = null;
  failure: GatewayError | undefined;
  readonly outcome: Promise<'ended' | 'failed'>;
  private settle: (outcome: 'ended' | 'failed') => void = () => undefined;

  constructor() {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
  }

  head(status: number, _headers: HeaderMap, endStream: boolean): void {
    this.status = status;
    if (endStream) this.settle('ended');
  }

  data(chunk: Buffer): boolean {
    this.body += chunk.toString();
    return true;
  }

  onDrain(): void {}

  end(trailers: HeaderMap | null): void {
    this.trailers = trailers;
    this.settle('ended');
  }

  fail(err: GatewayError): void {
    this.failure = err;
    this.settle('failed');
  }
}

/** Answers by path; see each test. */
function answer(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', () => undefined);
  const grpc = { ':status': 200, 'content-type': 'application/grpc' };
  switch (headers[':path']) {
    case '/length':
      stream.respond({ ':status': 200, 'content-length': 5 });
      stream.end('hello');
      return;
    case '/head':
      stream.respond({ ':status': 200, 'content-length': 5 }, { endStream: true });
      return;
    case '/no-content':
      stream.respond({ ':status': 204 }, { endStream: true });
      return;
    case '/plain':
      stream.respond({ ':status': 200 });
      stream.write('hel');
      setImmediate(() => stream.end('lo'));
      return;
    case '/grpc':
      stream.respond(grpc, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      return;
    case '/grpc-web':
      // gRPC-Web carries its status in the body: no grpc-status in headers or trailers.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc-web+proto' });
      stream.end(Buffer.from([0x80, 0, 0, 0, 0]));
      return;
    case '/grpc-trailers-only':
      stream.respond({ ...grpc, 'grpc-status': '5', 'grpc-message': 'nope' }, { endStream: true });
      return;
    case '/short-of-length':
      stream.respond({ ':status': 200, 'content-length': 100 });
      stream.write('hello');
      setTimeout(() => stream.destroy(), 20); // RST_STREAM(NO_ERROR)
      return;
    case '/grpc-without-status':
      stream.respond(grpc);
      stream.write(Buffer.from([0, 0, 0, 0, 0]));
      setTimeout(() => stream.destroy(), 20);
      return;
    case '/session-destroyed':
      stream.respond({ ':status': 200 });
      stream.write('hello');
      setTimeout(() => stream.session?.destroy(), 20);
      return;
    default: // held: the test cuts it from our side
      stream.respond({ ':status': 200 });
      stream.write('hello');
  }
}

async function connectionTo(t: TestContext): Promise<H2Connection> {
  const server = createServer();
  server.on('stream', answer);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const connection = new H2Connection(
    { authority: `http://127.0.0.1:${port}`, connectTimeoutMs: 2_000, describe: 'test endpoint' },
    { onReady: () => ready(), onClosed: () => undefined, onStreamClosed: () => undefined },
  );
  t.after(() => connection.destroy());
  await isReady;
  return connection;
}

function exchange(connection: H2Connection, path: string, method = 'GET'): RecordingSink {
  const request: ProxyRequest = {
    method,
    path,
    authority: 'test',
    headers: newHeaderMap(),
    bodyLength: 0,
    body: null,
    grpc: false,
  };
  const sink = new RecordingSink();
  const stream = connection.request(h2RequestHeaders(request), true);
  if (stream instanceof GatewayError) throw stream;
  new H2Exchange(stream, connection, request, sink);
  return sink;
}

test('answers that ended are passed on as ended, 40 of each shape at once on one connection', async (t) => {
  const connection = await connectionTo(t);
  const shapes: [string, string][] = [
    ['/length', 'GET'],
    ['/head', 'HEAD'],
    ['/no-content', 'GET'],
    ['/plain', 'GET'],
    ['/grpc', 'POST'],
    ['/grpc-trailers-only', 'POST'],
    ['/grpc-web', 'POST'],
  ];
  const sinks = shapes.flatMap(([path, method]) =>
    Array.from({ length: 40 }, () => ({ path, sink: exchange(connection, path, method) })),
  );
  for (const { path, sink } of sinks) {
    assert.equal(await sink.outcome, 'ended', `${path}: ${sink.failure?.message}`);
  }
  assert.equal(sinks.find((s) => s.path === '/plain')?.sink.body, 'hello');
  assert.deepEqual(sinks.find((s) => s.path === '/grpc')?.sink.trailers?.['grpc-status'], '0');
});

for (const [path, expected] of [
  ['/short-of-length', /95 bytes short of its content-length/],
  ['/grpc-without-status', /gRPC answer ended without a grpc-status/],
  ['/session-destroyed', /HTTP\/2 code 8/],
] as const) {
  test(`an answer cut short (${path}) fails instead of ending`, async (t) => {
    const connection = await connectionTo(t);
    const sink = exchange(connection, path);
    assert.equal(await sink.outcome, 'failed');
    assert.equal(sink.failure?.code, 'UPSTREAM_RESET');
    assert.match(sink.failure?.message ?? '', expected);
  });
}

test('answers in flight on a connection we destroy fail, with our reason or without one', async (t) => {
  const connection = await connectionTo(t);
  const first = exchange(connection, '/held');
  const second = exchange(connection, '/held');
  await waitFor('both answers to begin', () => first.body === 'hello' && second.body === 'hello', 5_000);
  connection.destroy(new GatewayError('UPSTREAM_RESET', 'peer stopped answering pings'));
  assert.equal(await first.outcome, 'failed');
  assert.equal(await second.outcome, 'failed');
  assert.match(first.failure?.message ?? '', /peer stopped answering pings/);

  const other = await connectionTo(t);
  const held = exchange(other, '/held');
  await waitFor('the answer to begin', () => held.body === 'hello', 5_000);
  other.destroy();
  assert.equal(await held.outcome, 'failed');
  assert.match(held.failure?.message ?? '', /connection closed with streams open/);
});
