// H2Connection on a real h2c server: a session destroyed before its 'close' event reached the pool is
// neither offered for new streams nor allowed to throw out of request() or ping(), and a stream it could
// not open counts as not sent; a refused stream, a stream above the last one a GOAWAY with an error
// code names, and a stream still queued when its connection closed before it was up count as not sent;
// a destroyed pool closes a connection the peer sent GOAWAY on; a connection retires before its stream
// ids run out; a closed pool (H2Pool) offers no connection, not even one still connecting; a connection
// draining a long stream leaves room for a new one; destroy() closes a TLS connection whose peer froze
// with data still queued to it (Node destroys such a socket itself on the dialling side; the peer
// listener's sessions needed their socket destroyed, see h2-sessions.ts); a burst at a cold pool stays on
// one connection when the peer's stream limit is known before its SETTINGS.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  constants,
  createServer,
  type ClientHttp2Stream,
  type Http2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { GatewayError, refusedUnprocessed } from '../gateway/errors.js';
import { H2Connection, type H2ConnectionOptions } from '../gateway/transport/h2-connection.js';
import { H2Pool } from '../gateway/transport/h2-pool.js';
import { twoGatewaysTls } from './helpers/fabric-pki.js';
import { BIG_WINDOWS, frame } from './helpers/h2-frames.js';
import { waitFor } from './helpers/wait.js';

/** An h2c server on loopback for one test: `onStream` answers (default: 200 "ok"). */
async function startH2c(
  t: TestContext,
  onStream: (stream: ServerHttp2Stream) => void = (stream) =>
    stream.respond({ ':status': 200 }, { endStream: true }),
): Promise<number> {
  const server = createServer();
  server.on('stream', onStream);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** An H2Connection to `port`, once the server's SETTINGS arrived. */
async function readyConnection(
  port: number,
  options: Partial<H2ConnectionOptions> = {},
): Promise<H2Connection> {
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const connection = new H2Connection(
    { authority: `http://127.0.0.1:${port}`, connectTimeoutMs: 2_000, describe: 'test endpoint', ...options },
    { onReady: () => ready(), onClosed: () => undefined, onStreamClosed: () => undefined },
  );
  await isReady;
  return connection;
}

/** An H2Pool of at most one connection to `port` (or `authority`), destroyed after the test. */
function singleConnectionPool(t: TestContext, port: number | string): H2Pool {
  const pool = new H2Pool({
    authority: typeof port === 'string' ? port : `http://127.0.0.1:${port}`,
    describe: 'test endpoint',
    connectTimeoutMs: 2_000,
    maxConnections: 1,
    overflowConnections: 0,
    backoff: { baseMs: 100, maxMs: 1_000 },
    pingTimeoutMs: 1_000,
    deadAfterMs: 3_000,
  });
  t.after(() => pool.destroy());
  return pool;
}

test('a destroyed session has no capacity; request() and ping() neither throw nor send', async (t) => {
  const port = await startH2c(t);
  const connection = await readyConnection(port);
  assert.equal(connection.hasCapacity, true);
  connection.session.destroy();
  assert.equal(connection.state, 'ready', "the pool has not heard yet: 'close' comes on a later tick");
  assert.equal(connection.hasCapacity, false);
  connection.ping(Date.now());
  assert.equal(connection.pingSentAtMs, 0, 'no ping on a destroyed session, and no throw');
  const stream = connection.request({ ':path': '/' }, true);
  assert.ok(stream instanceof GatewayError, 'an error, not a throw');
  assert.equal(stream.code, 'UPSTREAM_CONNECT', 'nothing was sent: retryable anywhere, even a POST');
  await once(connection.session, 'close');
  assert.equal(connection.state, 'closed');
});

test('a stream the peer refused unprocessed (REFUSED_STREAM) is reported as not sent: UPSTREAM_CONNECT', async (t) => {
  const port = await startH2c(t, (stream) => {
    stream.on('error', () => undefined); // closing with an error code reports it on this side too
    stream.close(constants.NGHTTP2_REFUSED_STREAM);
  });
  const connection = await readyConnection(port);
  t.after(() => connection.destroy());
  const stream = connection.request({ ':path': '/' }, true);
  assert.ok(!(stream instanceof GatewayError));
  const errors: Error[] = [];
  stream.on('error', (err: Error) => errors.push(err));
  await new Promise((resolve) => stream.once('close', resolve));
  const [err] = errors;
  assert.ok(err, 'the stream failed');
  const mapped = connection.streamError(err, stream);
  assert.equal(mapped.code, 'UPSTREAM_CONNECT', err.message);
  assert.match(mapped.message, /refused the stream unprocessed/);
  assert.ok(refusedUnprocessed(mapped), 'the same upstream may take it again');
});

/** The first error `stream` reports before it closes. */
async function failureOf(stream: ClientHttp2Stream): Promise<Error> {
  const errors: Error[] = [];
  stream.on('error', (err: Error) => errors.push(err));
  if (!stream.closed) await new Promise((resolve) => stream.once('close', resolve));
  const [err] = errors;
  assert.ok(err, 'the stream failed');
  return err;
}

test('GOAWAY with an error code: streams above its last stream id were not processed (UPSTREAM_CONNECT), the rest reset', async (t) => {
  const port = await startH2c(t, (stream) => {
    // Stream 1 is left open; on stream 3 the server goes away saying it processed only stream 1.
    stream.on('error', () => undefined); // the client's reset of both is reported here too
    if (stream.id === 3) stream.session?.goaway(constants.NGHTTP2_INTERNAL_ERROR, 1);
  });
  const connection = await readyConnection(port);
  t.after(() => connection.destroy());
  const first = connection.request({ ':path': '/one' }, true);
  assert.ok(!(first instanceof GatewayError));
  await waitFor('stream 1 to be sent', () => first.id === 1, 5_000);
  const second = connection.request({ ':path': '/two' }, true);
  assert.ok(!(second instanceof GatewayError));
  const [firstErr, secondErr] = await Promise.all([failureOf(first), failureOf(second)]);
  const processed = connection.streamError(firstErr, first);
  const unprocessed = connection.streamError(secondErr, second);
  assert.equal(processed.code, 'UPSTREAM_RESET', processed.message);
  assert.equal(unprocessed.code, 'UPSTREAM_CONNECT', unprocessed.message);
  assert.match(unprocessed.message, /stream not sent/);
});

test('a stream queued on a connection that closed before it was up was not sent: UPSTREAM_CONNECT', async (t) => {
  const port = await startH2c(t);
  const pool = singleConnectionPool(t, port);
  const connection = pool.acquire();
  assert.ok(connection instanceof H2Connection && connection.state === 'connecting');
  const queued = connection.request({ ':path': '/' }, true);
  assert.ok(!(queued instanceof GatewayError));
  pool.close();
  const err = await failureOf(queued);
  const mapped = connection.streamError(err, queued);
  assert.equal(mapped.code, 'UPSTREAM_CONNECT', `${err.message} → ${mapped.message}`);
});

test('a destroyed pool closes a connection the peer sent GOAWAY on, though the peer keeps its side open', async (t) => {
  const held: ServerHttp2Stream[] = [];
  const port = await startH2c(t, (stream) => {
    // An answer that stays open, and a graceful GOAWAY with it (as grpc-go's MaxConnectionAge sends).
    stream.respond({ ':status': 200 });
    held.push(stream);
    stream.session?.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
  });
  t.after(() => held.forEach((stream) => stream.session?.destroy()));
  const pool = singleConnectionPool(t, port);
  const connection = pool.acquire();
  assert.ok(connection instanceof H2Connection);
  const stream = connection.request({ ':path': '/watch' }, true);
  assert.ok(!(stream instanceof GatewayError));
  stream.on('error', () => undefined);
  await once(stream, 'response');
  held.forEach((served) => served.end());
  pool.destroy();
  // Node's destroy() of a closing session only ends the socket and waits for the peer to close: here it
  // never does (the file would not exit either).
  await waitFor('the connection to close', () => connection.state === 'closed', 5_000);
});

test('an idle connection the peer sends GOAWAY on closes, though the peer keeps its side open', async (t) => {
  const server = createServer();
  // A peer starting its drain: GOAWAY on a connection that carries nothing, then silence.
  server.on('session', (session) => session.once('remoteSettings', () => session.goaway()));
  const sessions: Http2Session[] = [];
  server.on('session', (session) => sessions.push(session));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    sessions.forEach((session) => session.destroy());
    server.close();
  });
  const pool = singleConnectionPool(t, (server.address() as AddressInfo).port);
  const connection = pool.acquire();
  assert.ok(connection instanceof H2Connection);
  await waitFor('the GOAWAY', () => connection.state !== 'connecting' && connection.state !== 'ready', 5_000);
  await waitFor('the connection to close', () => connection.state === 'closed', 5_000);
  assert.equal(pool.state().connections, 0);
});

test('a pool whose authority a URL cannot hold answers an error instead of throwing, and backs off', (t) => {
  const pool = singleConnectionPool(t, 'http://[1:2]:50051');
  const connection = pool.acquire();
  assert.ok(connection instanceof GatewayError, 'an error, not a throw');
  assert.equal(connection.code, 'UPSTREAM_CONNECT');
  assert.match(connection.message, /test endpoint: .*Invalid URL/);
  assert.equal(pool.available, false, 'in backoff, as after a failed connect');
  assert.match(pool.state().lastError ?? '', /Invalid URL/);
});

test('a connection retires after its stream budget: open streams finish, no new ones are offered', async (t) => {
  const port = await startH2c(t);
  const connection = await readyConnection(port, { maxStreamsPerConnection: 2 });
  t.after(() => connection.destroy());
  const answered = (stream: unknown) =>
    new Promise<number>((resolve, reject) => {
      assert.ok(!(stream instanceof GatewayError));
      const s = stream as ClientHttp2Stream;
      s.on('response', (headers) => resolve(Number(headers[':status'])));
      s.on('error', reject);
      s.resume();
    });
  const first = connection.request({ ':path': '/' }, true);
  assert.equal(connection.hasCapacity, true);
  const second = connection.request({ ':path': '/' }, true);
  assert.equal(connection.state, 'draining', 'the second stream used up the budget');
  assert.equal(connection.hasCapacity, false);
  assert.deepEqual(await Promise.all([answered(first), answered(second)]), [200, 200]);
  await new Promise((resolve) => connection.session.once('close', resolve));
  assert.equal(connection.state, 'closed', 'closed once its last stream finished');
});

test('a closed pool offers no connection, not even one still connecting', async (t) => {
  const port = await startH2c(t);
  const pool = singleConnectionPool(t, port);
  const first = pool.acquire();
  assert.ok(first instanceof H2Connection && first.state === 'connecting');
  pool.close();
  const after = pool.acquire();
  assert.ok(after instanceof GatewayError, 'no connection after close');
  assert.match(after.message, /connection pool closed/);
});

test('a connection draining a long stream after GOAWAY does not count against maxConnections', async (t) => {
  const held: ServerHttp2Stream[] = [];
  const port = await startH2c(t, (stream) => {
    if (held.length === 0) {
      // A long stream, then a graceful GOAWAY (as grpc-go's MaxConnectionAge sends): it stays open.
      stream.respond({ ':status': 200 });
      held.push(stream);
      stream.session?.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
      return;
    }
    stream.respond({ ':status': 200 }, { endStream: true });
  });
  t.after(() => held.forEach((stream) => stream.end()));
  const pool = singleConnectionPool(t, port);
  const first = pool.acquire();
  assert.ok(first instanceof H2Connection);
  const long = first.request({ ':path': '/watch' }, true);
  assert.ok(!(long instanceof GatewayError));
  long.on('error', () => undefined);
  t.after(() => long.destroy());
  await waitFor('the first connection to drain', () => first.state === 'draining', 5_000);
  const second = pool.acquire();
  if (second instanceof GatewayError) assert.fail(`no new connection: ${second.message}`);
  assert.notEqual(second, first);
  const quick = second.request({ ':path': '/' }, true);
  assert.ok(!(quick instanceof GatewayError));
  const [headers] = (await once(quick, 'response')) as [Record<string, unknown>];
  assert.equal(headers[':status'], 200);
});

test('destroy() closes a TLS connection whose peer froze with our data still queued to it', async (t) => {
  const tls = await twoGatewaysTls('frozen.test');
  // A peer that opens 16 MiB windows, then reads nothing: the 32 MiB upload below cannot all leave.
  const frozen = createTlsServer({ ...tls.b, ALPNProtocols: ['h2'] }, (socket) => {
    socket.on('error', () => undefined);
    socket.write(Buffer.concat([frame(0x4, 0, 0, Buffer.alloc(0)), BIG_WINDOWS]));
    socket.pause();
  });
  const accepted = new Set<Socket>();
  frozen.on('connection', (socket: Socket) => accepted.add(socket));
  frozen.listen(0, '127.0.0.1');
  await once(frozen, 'listening');
  t.after(() => {
    for (const socket of accepted) socket.destroy();
    frozen.close();
  });
  let closed = false;
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const connection = new H2Connection(
    {
      authority: `https://127.0.0.1:${(frozen.address() as AddressInfo).port}`,
      tls: { ...tls.a, servername: 'gw.b.frozen.test', checkServerIdentity: () => undefined },
      connectTimeoutMs: 2_000,
      describe: 'frozen peer',
    },
    { onReady: () => ready(), onClosed: () => (closed = true), onStreamClosed: () => undefined },
  );
  await isReady;
  const stream = connection.request({ ':method': 'POST', ':path': '/' }, false);
  assert.ok(!(stream instanceof GatewayError));
  stream.on('error', () => undefined);
  stream.write(Buffer.alloc(32 << 20));
  // Over 8 MiB handed to the socket: more than the kernel buffers of both ends hold.
  await waitFor(
    'the upload to fill the socket buffers',
    () => (connection.session.state.remoteWindowSize ?? Infinity) < 8 << 20,
    5_000,
  );
  connection.destroy();
  await waitFor('the connection to close', () => closed, 5_000);
});

test('recycling a pool: a connection still connecting sends what was queued on it, then takes nothing new', async (t) => {
  const port = await startH2c(t);
  const pool = singleConnectionPool(t, port);
  const first = pool.acquire();
  assert.ok(first instanceof H2Connection && first.state === 'connecting');
  const queued = first.request({ ':path': '/queued' }, true);
  assert.ok(!(queued instanceof GatewayError));
  queued.resume();
  pool.recycle();
  const next = pool.acquire();
  assert.ok(next instanceof H2Connection);
  assert.notEqual(next, first, 'a new request gets another connection');
  const [headers] = (await once(queued, 'response')) as [Record<string, unknown>];
  assert.equal(headers[':status'], 200, 'the stream queued while connecting went out and was answered');
  await waitFor(
    'the retired connection to close once its stream is done',
    () => first.state === 'closed',
    5_000,
  );
});

test('every connection at the peer’s stream limit: one more opens, then OVERLOADED at once (a PING still goes); the extra retires once idle and not the only one with room', async (t) => {
  const held: ServerHttp2Stream[] = [];
  const server = createServer({ settings: { maxConcurrentStreams: 2 } });
  server.on('session', (session) => session.on('error', () => undefined));
  server.on('stream', (stream) => {
    stream.on('error', () => undefined); // the pool's destroy at the end resets what is still open
    stream.respond({ ':status': 200 });
    held.push(stream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const pool = new H2Pool({
    authority: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    describe: 'test endpoint',
    connectTimeoutMs: 2_000,
    maxConnections: 1,
    overflowConnections: 1,
    backoff: { baseMs: 100, maxMs: 1_000 },
    pingTimeoutMs: 1_000,
    deadAfterMs: 3_000,
  });
  t.after(() => pool.destroy());

  /** Opens a long stream on the connection the pool offers once it is ready; that connection. */
  const longStream = async (): Promise<H2Connection> => {
    const connection = pool.acquire();
    assert.ok(
      connection instanceof H2Connection,
      connection instanceof GatewayError ? connection.message : '',
    );
    if (connection.state === 'connecting') await waitFor('a connection', () => connection.hasCapacity, 5_000);
    const stream = connection.request({ ':path': '/watch' }, true);
    assert.ok(!(stream instanceof GatewayError));
    stream.on('error', () => undefined);
    t.after(() => stream.destroy());
    await once(stream, 'response');
    return connection;
  };

  const first = await longStream();
  await longStream();
  assert.equal(first.hasCapacity, false, 'the first connection holds the 2 streams the server allows');
  const second = await longStream();
  assert.notEqual(second, first, 'the third stream got a connection of its own, not a queue on a full one');
  await longStream();
  const refused = pool.acquire();
  assert.ok(refused instanceof GatewayError, 'no third connection: at once, not queued');
  assert.equal(refused.code, 'OVERLOADED');
  assert.match(refused.message, /all 2 connections are at the stream limit/);
  // A PING takes no stream: a peer at its stream limit is still probed, on its oldest connection.
  const pinged = await new Promise((resolve) => pool.acquireForPing(resolve));
  assert.equal(pinged, first);

  // The extra connection idles while the first is still full: it stays, the only one with room.
  const [, , third, fourth] = held;
  third?.end();
  fourth?.end();
  await waitFor('the extra connection to idle', () => second.activeStreams === 0, 5_000);
  assert.equal(second.state, 'ready', 'kept: every call would otherwise dial a connection of its own');
  // Once the first connection has room again, the idle extra one retires.
  held[0]?.end();
  await waitFor('the extra connection to close', () => second.state === 'closed', 5_000);
  assert.equal(pool.state().connections, 1);
});

test('after dropConnections (the peer stopped answering) the pool refuses at once for a backoff, not dialling it again', async (t) => {
  const port = await startH2c(t);
  const pool = singleConnectionPool(t, port);
  const first = pool.acquire();
  assert.ok(first instanceof H2Connection);
  await waitFor('a connection', () => first.hasCapacity, 5_000);
  pool.dropConnections(new GatewayError('UPSTREAM_RESET', 'test endpoint: stopped answering probes'));
  const next = pool.acquire();
  assert.ok(next instanceof GatewayError, 'no new connection to a peer judged dead a moment ago');
  assert.match(next.message, /stopped answering probes/);
  await waitFor(
    'the backoff to pass and a new connection to come up',
    () => pool.acquire() instanceof H2Connection,
    5_000,
  );
});

test('a burst at a cold pool stays on one connection when the peer is known to allow more than 100 streams', async (t) => {
  const server = createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream) => stream.respond({ ':status': 200 }, { endStream: true }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  /** Connections a cold pool opened for 150 streams asked for at once, all of them answered. */
  const connectionsFor150 = async (assumedMaxStreams?: number): Promise<number> => {
    const pool = new H2Pool({
      authority: `http://127.0.0.1:${port}`,
      describe: 'test peer',
      connectTimeoutMs: 2_000,
      maxConnections: 4,
      overflowConnections: 0,
      backoff: { baseMs: 100, maxMs: 1_000 },
      pingTimeoutMs: 1_000,
      deadAfterMs: 3_000,
      ...(assumedMaxStreams ? { assumedMaxStreams } : {}),
    });
    t.after(() => pool.destroy());
    const answers: Promise<unknown>[] = [];
    for (let i = 0; i < 150; i++) {
      const connection = pool.acquire();
      assert.ok(connection instanceof H2Connection);
      const stream = connection.request({ ':path': '/' }, true);
      assert.ok(!(stream instanceof GatewayError));
      stream.resume();
      answers.push(once(stream, 'response'));
    }
    await Promise.all(answers);
    return pool.state().connections;
  };
  assert.equal(await connectionsFor150(1000), 1);
  assert.equal(await connectionsFor150(), 2, "Node's assumption: 100 streams before SETTINGS");
});
