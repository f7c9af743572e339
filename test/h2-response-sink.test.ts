// H2ResponseSink over a real node:http2 connection: a caller that closes its stream with RST_STREAM
// (NO_ERROR) while its request body is still unread leaves the server stream closed but not destroyed
// (Node waits for the body to be read). An answer arriving then must count the caller as gone (499);
// respond() on that stream throws, and the sink's own error answer would throw again, out of the
// upstream's event handler: a crash of the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type ServerHttp2Stream } from 'node:http2';
import { GatewayError } from '../gateway/errors.js';
import { H2ResponseSink } from '../gateway/listeners/h2-response-sink.js';
import { newHeaderMap } from '../gateway/upstream/exchange.js';

const HOST = '127.0.75.1';

async function abortedServerStream(t: test.TestContext): Promise<ServerHttp2Stream> {
  const server = createServer();
  t.after(() => server.close());
  const streams: ServerHttp2Stream[] = [];
  server.on('stream', (stream) => {
    stream.pause();
    streams.push(stream);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const client = connect(`http://${HOST}:${(server.address() as { port: number }).port}`);
  t.after(() => client.destroy());
  const req = client.request({ ':method': 'POST', ':path': '/upload' });
  req.on('error', () => undefined);
  req.write(Buffer.alloc(16 * 1024));
  while (streams.length === 0) await once(server, 'stream');
  const stream = streams[0] as ServerHttp2Stream;
  const aborted = once(stream, 'aborted');
  req.close();
  await aborted;
  return stream;
}

test('an answer for a caller that reset its stream while its body was unread counts 499, no throw', async (t) => {
  const stream = await abortedServerStream(t);
  const recorded: number[] = [];
  const sink = new H2ResponseSink(
    stream,
    false,
    false,
    { record: (status) => recorded.push(status) },
    undefined,
  );
  assert.equal(stream.destroyed, false, 'Node keeps the stream until its body is read');
  assert.doesNotThrow(() => sink.head(200, newHeaderMap(), false));
  assert.doesNotThrow(() => sink.fail(new GatewayError('UPSTREAM_RESET', 'late failure')));
  assert.deepEqual(recorded, [499]);
});

test('a gRPC error answer for such a caller is not sent either', async (t) => {
  const stream = await abortedServerStream(t);
  const recorded: number[] = [];
  const sink = new H2ResponseSink(
    stream,
    true,
    true,
    { record: (status) => recorded.push(status) },
    undefined,
  );
  assert.doesNotThrow(() => sink.fail(new GatewayError('UPSTREAM_TIMEOUT', 'no answer')));
  assert.deepEqual(recorded, [499]);
});
