// An answer's head reaches the caller when the endpoint sends it, not with the first body bytes: a
// caller may act on a head alone (an event stream opens; a gRPC client reads its initial metadata; a
// long poll knows it was accepted). Locally and across clusters, to HTTP/1.1 callers (the fast path, and
// Node's parser for a head it does not take) and HTTP/2 callers. Each head must come within 5 s; the
// endpoint sends its body only after the caller has the head.
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useNearAndFar } from './helpers/near-far-fabric.js';

/** Sends the head of an event stream at once and the first event only when the test says so. */
const waiting: ServerResponse[] = [];
function headFirstEndpoint() {
  return createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-opened': 'yes' });
    res.flushHeaders();
    waiting.push(res);
  });
}

function sendEvents(): void {
  for (const res of waiting.splice(0)) res.end('data: done\n\n');
}

describe('an answer’s head reaches the caller before its body', () => {
  const suite = useNearAndFar(headFirstEndpoint, ['127.0.1.95', '127.0.2.95']);
  const outbound = () => `http://127.0.1.1:${suite.fabric.gateway('a').outboundPort}`;

  for (const service of ['near', 'far']) {
    const where = service === 'near' ? 'locally' : 'across clusters';

    for (const [kind, extra] of [
      ['fast path', {}],
      ["Node's parser", Object.fromEntries(Array.from({ length: 110 }, (_, i) => [`x-field-${i}`, `${i}`]))],
    ] as const) {
      test(`HTTP/1.1 caller, ${kind} (${where})`, async () => {
        const req = request(`${outbound()}/events`, { headers: { host: service, ...extra }, agent: false });
        req.end();
        const [res] = (await once(req, 'response', { signal: AbortSignal.timeout(5_000) })) as [
          IncomingMessage,
        ];
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['x-opened'], 'yes');
        sendEvents();
        let body = '';
        for await (const chunk of res) body += (chunk as Buffer).toString();
        assert.equal(body, 'data: done\n\n');
      });
    }

    for (const endStream of [true, false]) {
      test(`HTTP/2 caller, ${endStream ? 'no body' : 'a body to come'} (${where})`, async () => {
        const session = http2.connect(outbound());
        try {
          const stream = session.request({ ':path': '/events', ':authority': service }, { endStream });
          const [headers] = (await once(stream, 'response', { signal: AbortSignal.timeout(5_000) })) as [
            http2.IncomingHttpHeaders,
          ];
          assert.equal(headers[':status'], 200);
          assert.equal(headers['x-opened'], 'yes');
          sendEvents();
          let body = '';
          for await (const chunk of stream) body += (chunk as Buffer).toString();
          assert.equal(body, 'data: done\n\n');
        } finally {
          session.close();
        }
      });
    }
  }
});
