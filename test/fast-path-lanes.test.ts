// The fast path on a lane, where another weft gateway writes: a request head that arrives in two pieces
// is waited for and served (on the outbound listener it goes to Node's parser, as before), and request
// bodies (Content-Length, chunked: gRPC calls) are read here, with backpressure, gRPC error answers,
// and a clear 400 for broken framing. The byte stream is a plain Duplex fed piece by piece, so each
// piece is its own read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, type Readable } from 'node:stream';
import { GatewayError } from '../gateway/errors.js';
import {
  FastConnection,
  type FastPathHost,
  type FastResponseSink,
} from '../gateway/listeners/h1-fast-path.js';
import { FastRequestBody } from '../gateway/listeners/fast-request-body.js';
import type { SimpleHead } from '../gateway/listeners/simple-request-head.js';
import type { TargetStats } from '../gateway/routing/route-targets.js';
import type { ByteStream } from '../gateway/upstream/exchange.js';

const noStats: TargetStats = { record: () => undefined };

/** A byte stream whose reads are pushed by the test and whose writes are collected. */
function pipeStream(): { stream: ByteStream; written: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  }) as ByteStream;
  stream.setTimeout = () => stream;
  return { stream, written: () => Buffer.concat(chunks).toString('latin1') };
}

function host(waitForSplitHeads: boolean) {
  const routed: SimpleHead[] = [];
  const handedOver: string[] = [];
  const h: FastPathHost = {
    keepAliveTimeoutMs: 60_000,
    noRouteStats: noStats,
    onOutcome: undefined,
    draining: false,
    waitForSplitHeads,
    route: (head, _body, sink) => {
      routed.push(head);
      sink.head(200, { 'content-length': '2' }, false);
      sink.data(Buffer.from('ok'));
      sink.end(null);
    },
    handOver: (_socket, unread) => handedOver.push(unread.toString('latin1')),
  };
  return { h, routed, handedOver };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('on a lane, a head split across reads is waited for and served by the fast path', async () => {
  const { stream, written } = pipeStream();
  const { h, routed, handedOver } = host(true);
  new FastConnection(stream, h, null);
  stream.push(Buffer.from('GET /split HTTP/1.1\r\nHo', 'latin1'));
  await nextTurn();
  assert.equal(routed.length, 0, 'nothing routed before the head is complete');
  stream.push(Buffer.from('st: split.default\r\n\r\n', 'latin1'));
  await nextTurn();
  assert.deepEqual(handedOver, []);
  assert.equal(routed.length, 1);
  assert.equal(routed[0]?.authority, 'split.default');
  assert.equal(routed[0]?.path, '/split');
  assert.match(written(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
});

test('on the outbound listener, a split head goes to Node’s parser with the bytes read so far', async () => {
  const { stream } = pipeStream();
  const { h, routed, handedOver } = host(false);
  new FastConnection(stream, h, null);
  stream.push(Buffer.from('GET /split HTTP/1.1\r\nHo', 'latin1'));
  await nextTurn();
  assert.deepEqual(handedOver, ['GET /split HTTP/1.1\r\nHo']);
  assert.equal(routed.length, 0);
});

type LaneRoute = (head: SimpleHead, body: Readable | Buffer | null, sink: FastResponseSink) => void;

/** A lane's host (split heads waited for, bodies read) routing with `route`. */
function laneHost(route: LaneRoute): FastPathHost {
  return {
    keepAliveTimeoutMs: 60_000,
    noRouteStats: noStats,
    onOutcome: undefined,
    draining: false,
    waitForSplitHeads: true,
    readsBodies: true,
    route,
    handOver: () => assert.fail('a lane request went to Node’s parser'),
  };
}

/** Answers each request with its method and whole body, once the body has ended. */
const echoBody: LaneRoute = (head, body, sink) => {
  const chunks: Buffer[] = [];
  const answer = () => {
    const text = Buffer.from(`${head.method} ${Buffer.concat(chunks).toString('latin1')}`, 'latin1');
    sink.head(200, { 'content-length': String(text.length) }, false);
    sink.data(text);
    sink.end(null);
  };
  if (!body || Buffer.isBuffer(body)) {
    if (body) chunks.push(body);
    answer();
    return;
  }
  body.on('data', (chunk: Buffer) => chunks.push(chunk));
  body.on('end', answer);
};

const GRPC_HEAD =
  'POST /pkg.Svc/Call HTTP/1.1\r\nHost: svc\r\ncontent-type: application/grpc\r\nte: trailers\r\ntransfer-encoding: chunked\r\n\r\n';

test('on a lane, a chunked body is read in pieces and the pipelined request after it is served next', async () => {
  const { stream, written } = pipeStream();
  new FastConnection(stream, laneHost(echoBody), null);
  const wire =
    'POST /a HTTP/1.1\r\nHost: svc\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n' +
    'PUT /b HTTP/1.1\r\nHost: svc\r\ncontent-length: 2\r\n\r\nhi' +
    'GET /c HTTP/1.1\r\nHost: svc\r\n\r\n';
  for (let at = 0; at < wire.length; at += 7) {
    stream.push(Buffer.from(wire.slice(at, at + 7), 'latin1'));
    await nextTurn();
  }
  const answers = written()
    .split(/HTTP\/1\.1 200 OK\r\n/)
    .slice(1);
  assert.deepEqual(
    answers.map((answer) => answer.slice(answer.indexOf('\r\n\r\n') + 4)),
    ['POST abcdefg', 'PUT hi', 'GET '],
  );
  assert.ok(!written().includes('connection: close'));
});

test('on a lane, a body that arrived whole with its head is passed as one buffer', async () => {
  const { stream, written } = pipeStream();
  const bodies: Array<Readable | Buffer | null> = [];
  new FastConnection(
    stream,
    laneHost((head, body, sink) => {
      bodies.push(body);
      echoBody(head, body, sink);
    }),
    null,
  );
  stream.push(
    Buffer.from(
      'PUT /d HTTP/1.1\r\nHost: svc\r\ncontent-length: 5\r\n\r\nhelloGET /e HTTP/1.1\r\nHost: svc\r\n\r\n',
      'latin1',
    ),
  );
  await nextTurn();
  assert.ok(Buffer.isBuffer(bodies[0]));
  assert.equal(bodies[1], null);
  assert.match(written(), /\r\n\r\nPUT hello[^]*\r\n\r\nGET $/);
});

test('on a lane, a body the consumer does not take pauses the lane until it reads again', async () => {
  const { stream } = pipeStream();
  let body: Readable | null = null;
  new FastConnection(
    stream,
    laneHost((_head, b) => (body = b as Readable)),
    null,
  );
  stream.push(Buffer.from('PUT /big HTTP/1.1\r\nHost: svc\r\ncontent-length: 200000\r\n\r\n', 'latin1'));
  stream.push(Buffer.alloc(100_000, 'x'));
  await nextTurn();
  assert.ok(stream.isPaused(), 'the lane stops reading while the body is not consumed');
  let received = 0;
  const taken = body as Readable | null;
  assert.ok(taken);
  taken.on('data', (chunk: Buffer) => (received += chunk.length));
  await nextTurn();
  assert.ok(!stream.isPaused(), 'reading again resumes the lane');
  stream.push(Buffer.alloc(100_000, 'y'));
  await new Promise((resolve) => taken.once('end', resolve));
  assert.equal(received, 200_000);
});

test('on a lane, gRPC errors are answered as gRPC: trailers-only before the head, UNAVAILABLE trailers after', async () => {
  const { stream, written } = pipeStream();
  let calls = 0;
  new FastConnection(
    stream,
    laneHost((_head, body, sink) => {
      (body as Readable | null)?.resume();
      if (++calls === 1) {
        sink.fail(new GatewayError('NO_ROUTE', 'service nosuch.default is not served in cluster b'));
        return;
      }
      sink.head(200, { 'content-type': 'application/grpc', 'content-length': '9' }, false);
      sink.data(Buffer.from([0, 0, 0, 0, 4, 0x70, 0x6f, 0x6e, 0x67]));
      sink.fail(new GatewayError('UPSTREAM_RESET', 'endpoint 127.0.2.20:50051 reset the stream'));
    }),
    null,
  );
  const call = `${GRPC_HEAD}5\r\n\x00\x00\x00\x00\x00\r\n0\r\n\r\n`;
  stream.push(Buffer.from(call + call, 'latin1'));
  await nextTurn();
  const [first, second] = written().split(/(?=HTTP\/1\.1 )/);
  assert.match(first ?? '', /^HTTP\/1\.1 200 OK\r\ncontent-type: application\/grpc\r\ncontent-length: 0\r\n/);
  assert.match(first ?? '', /\r\ngrpc-status: 5\r\ngrpc-message: service nosuch\.default is not served/);
  assert.ok(!(first ?? '').includes('connection: close'), 'the lane stays open');
  assert.ok(!(second ?? '').includes('content-length'), 'a gRPC body is chunked so that trailers can follow');
  const body = (second ?? '').slice((second ?? '').indexOf('\r\n\r\n') + 4);
  assert.match(second ?? '', /transfer-encoding: chunked\r\n/);
  assert.ok(body.startsWith('9\r\n\x00\x00\x00\x00\x04pong\r\n0\r\n'), JSON.stringify(body));
  assert.match(
    body,
    /\r\ngrpc-status: 14\r\ngrpc-message: endpoint 127\.0\.2\.20:50051 reset the stream\r\n/,
  );
  assert.ok(body.endsWith('\r\n\r\n'));
  assert.ok(!stream.writableEnded);
});

test('on a lane, broken chunked framing is answered 400 and the lane closes; the exchange is cancelled', async () => {
  const { stream, written } = pipeStream();
  let cancelled = false;
  new FastConnection(
    stream,
    laneHost((_head, body, sink) => {
      (body as Readable | null)?.resume();
      sink.exchange = { cancel: () => (cancelled = true) };
    }),
    null,
  );
  stream.push(Buffer.from(`${GRPC_HEAD.replace('application/grpc', 'text/plain')}3\r\nab`, 'latin1'));
  await nextTurn();
  stream.push(Buffer.from('cXY', 'latin1'));
  await nextTurn();
  assert.match(
    written(),
    /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*weft-error: BAD_REQUEST\r\nconnection: close\r\n/,
  );
  assert.match(written(), /malformed request body: a chunk is not followed by CRLF\n$/);
  assert.ok(cancelled);
  assert.ok(stream.writableEnded);
});

test('a chunked request body takes trailer fields and refuses a trailer line that is not one', () => {
  const cases: [trailers: string, invalid: string | null][] = [
    ['X-Sum: 1\r\nX-Empty:\r\n\r\n', null],
    ['no colon here\r\n\r\n', 'malformed trailer field'],
    [': no name\r\n\r\n', 'malformed trailer field'],
    ['Bad Name: 1\r\n\r\n', 'malformed trailer field'],
    [' X-Folded: 1\r\n\r\n', 'malformed trailer field'],
    ['X-Control: a\x01b\r\n\r\n', 'malformed trailer field'],
  ];
  for (const [trailers, invalid] of cases) {
    const body = new FastRequestBody(-1, () => undefined);
    body.resume();
    body.feed(Buffer.from(`2\r\nab\r\n0\r\n${trailers}`, 'latin1'));
    assert.equal(body.invalid, invalid, JSON.stringify(trailers));
    assert.equal(body.complete, invalid === null, JSON.stringify(trailers));
  }
});

test('on a lane, an answer that ends before its request body does closes the lane and ends the body', async () => {
  const { stream, written } = pipeStream();
  let body: Readable | null = null;
  new FastConnection(
    stream,
    laneHost((_head, b, sink) => {
      body = b as Readable;
      sink.head(413, { 'content-length': '0' }, true);
    }),
    null,
  );
  stream.push(Buffer.from('PUT /x HTTP/1.1\r\nHost: svc\r\ncontent-length: 10\r\n\r\nabc', 'latin1'));
  await nextTurn();
  assert.match(written(), /^HTTP\/1\.1 413 /);
  assert.ok(stream.writableEnded, 'the rest of the body is not worth reading');
  assert.ok((body as Readable | null)?.destroyed);
});

test('a caller that ends its side after a request gets the answer, then the connection ends; a cut body ends it at once', async () => {
  const { stream, written } = pipeStream();
  new FastConnection(stream, laneHost(echoBody), null);
  stream.push(Buffer.from('GET /a HTTP/1.1\r\nHost: svc\r\n\r\n', 'latin1'));
  stream.push(null);
  await nextTurn();
  assert.match(written(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nGET $/);
  assert.ok(stream.writableEnded);

  const cut = pipeStream();
  new FastConnection(cut.stream, laneHost(echoBody), null);
  cut.stream.push(Buffer.from('PUT /b HTTP/1.1\r\nHost: svc\r\ncontent-length: 9\r\n\r\nabc', 'latin1'));
  cut.stream.push(null);
  await nextTurn();
  assert.equal(cut.written(), '');
  assert.ok(cut.stream.destroyed);
});
