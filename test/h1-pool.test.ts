// H1Pool on its own: a connection whose stream fails before it was usable (a lane whose HTTP/2 stream
// reset, or whose peer connection timed out, before the peer's 200) reports UPSTREAM_CONNECT (nothing
// was sent); backpressure on a pooled connection belongs to the exchange it is serving.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { waitFor } from './helpers/wait.js';
import { GatewayError } from '../gateway/errors.js';
import { H1Pool } from '../gateway/upstream/h1-pool.js';
import {
  newHeaderMap,
  type ByteStream,
  type ProxyRequest,
  type ResponseSink,
} from '../gateway/upstream/exchange.js';

/** A bodyless request to service `svc`. */
function bodyless(method: string): ProxyRequest {
  return {
    method,
    path: '/',
    authority: 'svc',
    headers: newHeaderMap(),
    bodyLength: 0,
    body: null,
    grpc: false,
  };
}

/** A one-connection H1Pool to a loopback TCP server whose connections `serve` handles. */
async function poolTo(t: TestContext, serve: (socket: Socket) => void): Promise<H1Pool> {
  const upstream = createServer(serve);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.after(() => upstream.close());
  const { port } = upstream.address() as AddressInfo;
  const pool = new H1Pool({
    describe: 'test endpoint',
    dial: (connection) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => connection.onConnect());
      return socket;
    },
    connectTimeoutMs: 2_000,
    idleTimeoutMs: 10_000,
    maxConnections: 1,
    maxQueued: 1,
  });
  t.after(() => pool.destroy());
  return pool;
}

for (const classifiedAs of ['UPSTREAM_RESET', 'UPSTREAM_TIMEOUT'] as const) {
  test(`a connection that fails before it is usable reports UPSTREAM_CONNECT, even when classified ${classifiedAs}`, async () => {
    // UPSTREAM_TIMEOUT: the lane's peer connection was dropped for an unanswered keep-alive ping.
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
      classifyError: (_connection, err) => new GatewayError(classifiedAs, `lane: ${err.message}`),
    });
    const failure = await new Promise<GatewayError>((resolve, reject) => {
      const sink: ResponseSink = {
        head: () => reject(new Error('no answer expected')),
        data: () => true,
        onDrain: () => undefined,
        end: () => reject(new Error('no answer expected')),
        fail: resolve,
      };
      pool.dispatch({ ...bodyless('POST'), path: '/jobs' }, sink);
    });
    pool.destroy();
    assert.equal(failure.code, 'UPSTREAM_CONNECT');
    assert.match(failure.message, /stream reset by peer/);
  });
}

test("a late drain of an earlier caller does not lift the current caller's backpressure", async (t) => {
  let served = 0;
  const big = Buffer.alloc(1024 * 1024, 0x61);
  const pool = await poolTo(t, (socket) => {
    socket.on('data', () => {
      served++;
      if (served === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else
        socket.write(
          Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`), big]),
        );
    });
  });
  /** A sink that is always full: it records its chunks and keeps its drain callback. */
  const fullSink = () => {
    const sink = {
      chunks: 0,
      bytes: 0,
      drain: undefined as (() => void) | undefined,
      ended: false,
      head: () => undefined,
      data: (chunk: Buffer) => {
        sink.chunks++;
        sink.bytes += chunk.length;
        return false;
      },
      onDrain: (resume: () => void) => (sink.drain = resume),
      end: () => (sink.ended = true),
      fail: (err: GatewayError) => assert.fail(err),
    };
    return sink;
  };
  const request = bodyless('GET');
  const first = fullSink();
  pool.dispatch(request, first);
  await waitFor('the first answer', () => first.ended, 5_000);
  const second = fullSink();
  pool.dispatch(request, second);
  await waitFor('the second answer to start', () => second.chunks > 0, 5_000);
  const chunksBefore = second.chunks;
  first.drain?.();
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(second.chunks, chunksBefore, 'still paused for the second caller');
  while (!second.ended) {
    const resume = second.drain;
    second.drain = undefined;
    resume?.();
    await waitFor('more of the second answer', () => second.ended || second.drain !== undefined, 5_000);
  }
  assert.equal(second.bytes, big.length);
});

test('a bare 101 to a pooled request fails the request (502) instead of reaching the caller', async (t) => {
  const pool = await poolTo(t, (socket) => {
    socket.once('data', () =>
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n'),
    );
  });
  const heads: number[] = [];
  const failure = await new Promise<GatewayError>((resolve) =>
    pool.dispatch(bodyless('GET'), {
      head: (status) => heads.push(status),
      data: () => true,
      onDrain: () => undefined,
      end: () => assert.fail('no answer expected'),
      fail: resolve,
    }),
  );
  assert.deepEqual(heads, [], 'no 101 passed on');
  assert.equal(failure.code, 'UPSTREAM_RESET');
  assert.match(failure.message, /switched protocols/);
});

test('requests cancelled while their connection is dialled leave it to the pool, not closed (HTTP/2 rapid reset)', async (t) => {
  const accepted: Socket[] = [];
  const pool = await poolTo(t, (socket) => {
    accepted.push(socket);
    socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  });
  const answers: string[] = [];
  const sink: ResponseSink = {
    head: (status) => answers.push(String(status)),
    data: () => true,
    onDrain: () => undefined,
    end: () => undefined,
    fail: (err) => answers.push(err.code),
  };
  // Cancelled at once, before the connection is up: nothing is sent, and the connection stays.
  pool.dispatch(bodyless('GET'), sink).cancel();
  await waitFor('the dialled connection to join the pool', () => pool.stats.idle === 1, 5_000);
  assert.equal(accepted.length, 1);
  assert.ok(!accepted[0]?.destroyed, 'the upstream connection is still open');
  pool.dispatch(bodyless('GET'), sink);
  await waitFor('the next request to be answered on it', () => answers.length === 1, 5_000);
  assert.deepEqual(answers, ['200']);
  assert.equal(accepted.length, 1, 'no second connection');
});
