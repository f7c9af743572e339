// The hand-written HTTP/1.1 pieces of the data plane, table-driven: the upstream response parser (every
// framing, split at every byte boundary, and the malformed answers it must refuse) and the fast path's
// simple-request recogniser (what it accepts, and everything it must leave to Node's parser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../gateway/errors.js';
import { parseSimpleHead } from '../gateway/listeners/simple-request-head.js';
import type { HeaderMap } from '../gateway/upstream/exchange.js';
import { H1ResponseParser } from '../gateway/upstream/h1-response-parser.js';

interface Parsed {
  status: number;
  headers: HeaderMap;
  body: string;
  trailers: HeaderMap | null;
  keepAlive: boolean;
  complete: boolean;
  error?: string;
  leftover?: string;
}

/** Feeds `chunks` to a fresh parser (a HEAD request when `head`), then signals EOF when `eof`. */
function parse(chunks: readonly string[], options: { head?: boolean; eof?: boolean } = {}): Parsed {
  const out: Parsed = { status: 0, headers: {}, body: '', trailers: null, keepAlive: false, complete: false };
  const parser = new H1ResponseParser({
    onResponseHead(status, headers) {
      out.status = status;
      out.headers = { ...headers };
    },
    onResponseBody(chunk) {
      out.body += chunk.toString('latin1');
    },
    onResponseComplete(trailers, keepAlive) {
      out.complete = true;
      out.trailers = trailers ? { ...trailers } : null;
      out.keepAlive = keepAlive;
    },
  });
  parser.start(options.head ?? false);
  for (const chunk of chunks) {
    const result = parser.execute(Buffer.from(chunk, 'latin1'));
    if (result instanceof GatewayError) {
      out.error = result.message;
      return out;
    }
    if (result) out.leftover = result.toString('latin1');
  }
  if (options.eof) {
    const err = parser.finish();
    if (err) out.error = err.message;
  }
  return out;
}

/** Every way of splitting `text` in two. */
function splits(text: string): string[][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
}

test('response parser: each framing, split at every byte, gives the same answer', () => {
  const cases: { wire: string; body: string; keepAlive: boolean; trailers?: HeaderMap; eof?: boolean }[] = [
    { wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello', body: 'hello', keepAlive: true },
    {
      wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n',
      body: 'hello world',
      keepAlive: true,
      trailers: { 'x-sum': 'abc' },
    },
    {
      wire: 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end',
      body: 'until the end',
      keepAlive: false,
      eof: true,
    },
    { wire: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', body: 'ok', keepAlive: false },
    { wire: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n', body: '', keepAlive: true },
  ];
  for (const c of cases) {
    for (const parts of splits(c.wire)) {
      const got = parse(parts, { eof: c.eof ?? false });
      assert.equal(got.error, undefined, `${JSON.stringify(parts)}: ${got.error}`);
      assert.equal(got.complete, true, JSON.stringify(parts));
      assert.equal(got.body, c.body, JSON.stringify(parts));
      assert.equal(got.keepAlive, c.keepAlive);
      if (c.trailers) assert.deepEqual(got.trailers, c.trailers);
    }
  }
});

test('response parser: hop-by-hop fields are dropped, names lower-cased, repeats kept', () => {
  const got = parse([
    'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n',
  ]);
  assert.deepEqual(got.headers, { 'set-cookie': ['a=1', 'b=2'], 'content-length': '0' });
});

test('response parser: HEAD and 304 answers have no body even with a Content-Length', () => {
  assert.equal(parse(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'], { head: true }).complete, true);
  assert.equal(parse(['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n']).complete, true);
});

test('response parser: 101 hands over the bytes that follow the head', () => {
  const got = parse(['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi']);
  assert.equal(got.status, 101);
  assert.equal(got.headers.upgrade, 'websocket');
  assert.equal(got.leftover, '\x81\x02hi');
});

test('response parser: malformed answers are refused, never thrown', () => {
  const bad: [string, RegExp][] = [
    ['HTTP/2 200 OK\r\n\r\n', /status line/],
    ['HTTP/1.1 2000 OK\r\n\r\n', /status line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /conflicting Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n', /header name/],
    ['HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n', /control character/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX', /CRLF/],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`, /too large/],
  ];
  for (const [wire, message] of bad)
    assert.match(parse([wire]).error ?? '', message, JSON.stringify(wire.slice(0, 60)));
  assert.match(
    parse(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'], { eof: true }).error ?? '',
    /closed the connection mid-response/,
  );
});

test('simple request heads: the fast path takes what it can carry and builds HTTP/2-ready headers', () => {
  const head = parseSimpleHead(
    'GET /a?b=1 HTTP/1.1\r\nHost: hello\r\nAccept: */*\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nWeft-Source-Cluster: forged\r\nWeft-Service: x.y\r\nTE: trailers',
  );
  assert.ok(head);
  assert.deepEqual(
    { ...head.headers },
    {
      ':method': 'GET',
      ':scheme': 'http',
      ':authority': 'hello',
      ':path': '/a?b=1',
      accept: '*/*',
      te: 'trailers',
    },
  );
  assert.equal(head.keepAlive, true);
  assert.equal(head.service, 'x.y');
  const old = parseSimpleHead('HEAD / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive');
  assert.deepEqual([old?.http10, old?.keepAlive], [true, true]);
  assert.equal(parseSimpleHead('GET / HTTP/1.1\r\nHost: h\r\nConnection: close')?.keepAlive, false);
});

test('simple request heads: anything unusual is left to Node’s parser', () => {
  const leftToNode = [
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3',
    'GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3',
    'GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked',
    'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade',
    'GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue',
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b',
    'GET http://h/ HTTP/1.1\r\nHost: h',
    'GET / HTTP/2.0\r\nHost: h',
    'GET /a b HTTP/1.1\r\nHost: h',
    'GET / HTTP/1.1\r\nBad Name: x',
    'GET / HTTP/1.1\r\n folded: x',
    'GET / HTTP/1.1\r\nX: a\x00b',
    'GARBAGE',
    'PRI * HTTP/2.0',
  ];
  for (const text of leftToNode) assert.equal(parseSimpleHead(text), undefined, JSON.stringify(text));
});
