// A request head that arrives in two pieces: on a lane (waitForSplitHeads) the fast path waits for the
// rest and serves it itself; on the outbound listener it hands the connection to Node's parser, as
// before. The byte stream is a plain Duplex fed piece by piece, so each piece is its own read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { FastConnection, type FastPathHost } from '../gateway/listeners/h1-fast-path.js';
import type { SimpleHead } from '../gateway/listeners/simple-request-head.js';
import type { TargetStats } from '../gateway/routing/route-table.js';
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
    route: (head, sink) => {
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
