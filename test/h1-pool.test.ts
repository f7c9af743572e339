// H1Pool with a dial whose stream fails before the connection was usable (a lane whose HTTP/2 stream
// reset before the peer's 200): no byte of the request left, so the failure is UPSTREAM_CONNECT, which
// the retry policy may send elsewhere whatever the method, even when the classifier says "reset".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { GatewayError } from '../gateway/errors.js';
import { H1Pool } from '../gateway/upstream/h1-pool.js';
import { newHeaderMap, type ByteStream, type ResponseSink } from '../gateway/upstream/exchange.js';

test('a connection that fails before it is usable reports UPSTREAM_CONNECT, even when classified as a reset', async () => {
  const pool = new H1Pool({
    describe: 'lane to test peer',
    dial: () => {
      const stream = new PassThrough() as unknown as ByteStream & { setTimeout(ms: number): unknown };
      stream.setTimeout = () => stream;
      setImmediate(() => stream.destroy(new Error('stream reset by peer')));
      return stream;
    },
    connectTimeoutMs: 2_000,
    idleTimeoutMs: 10_000,
    maxConnections: 1,
    maxQueued: 1,
    classifyError: (_connection, err) => new GatewayError('UPSTREAM_RESET', `lane: ${err.message}`),
  });
  const failure = await new Promise<GatewayError>((resolve, reject) => {
    const sink: ResponseSink = {
      head: () => reject(new Error('no answer expected')),
      data: () => true,
      onDrain: () => undefined,
      end: () => reject(new Error('no answer expected')),
      fail: resolve,
    };
    pool.dispatch(
      {
        method: 'POST',
        path: '/jobs',
        authority: 'svc',
        headers: newHeaderMap(),
        bodyLength: 0,
        body: null,
        grpc: false,
      },
      sink,
    );
  });
  pool.destroy();
  assert.equal(failure.code, 'UPSTREAM_CONNECT');
  assert.match(failure.message, /stream reset by peer/);
});
