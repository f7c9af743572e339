// An endpoint's interim answers (103 Early Hints, 102 Processing) reach the caller ahead of the final
// answer, as a proxy must pass them on (RFC 9110 §15.2): to HTTP/1.1 callers on the fast path and
// through Node's parser, to HTTP/2 callers as an extra HEADERS block, locally and across clusters
// (bodyless requests ride lanes, others HTTP/2 streams between the gateways). HTTP/1.0 callers, which
// know no 1xx, get the final answer only.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:http2';
import { useNearAndFar } from './helpers/near-far-fabric.js';
import { rawExchange } from './helpers/raw-exchange.js';

const LINK = '</style.css>; rel=preload; as=style';

function hintingEndpoint(): Server {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      // /slow answers late and without hints: what is pipelined behind it waits in the gateway.
      if (req.url === '/slow') {
        setTimeout(() => res.end('final'), 300);
        return;
      }
      res.writeEarlyHints({ link: LINK });
      res.end('final');
    });
  });
}

describe('interim answers (1xx) pass through the gateways', () => {
  const suite = useNearAndFar(hintingEndpoint, ['127.0.1.90', '127.0.2.90']);

  /** An HTTP/1.1 call through gateway a: the interim answers it saw, and the final status and body. */
  const h1Call = (service: string, method: string, body?: string) =>
    new Promise<{
      interim: { status: number; headers: IncomingHttpHeaders }[];
      status: number;
      body: string;
    }>((resolve, reject) => {
      const interim: { status: number; headers: IncomingHttpHeaders }[] = [];
      const req = request(
        {
          host: '127.0.1.1',
          port: suite.fabric.gateway('a').outboundPort,
          method,
          path: '/',
          headers: { host: service },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ interim, status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('information', (info) => interim.push({ status: info.statusCode, headers: info.headers }));
      req.on('error', reject);
      req.end(body);
    });

  for (const service of ['near', 'far']) {
    const where = service === 'near' ? 'locally' : 'across clusters';

    test(`HTTP/1.1 callers get the 103 before the answer, bodyless or not (${where})`, async () => {
      for (const [method, body] of [
        ['GET', undefined],
        ['POST', 'a body'],
      ] as const) {
        const answer = await h1Call(service, method, body);
        assert.deepEqual(
          [answer.status, answer.body, answer.interim.map((i) => [i.status, i.headers.link])],
          [200, 'final', [[103, LINK]]],
          `${method} ${where}`,
        );
      }
    });

    test(`HTTP/2 callers get the 103 as a HEADERS block before the answer (${where})`, async () => {
      const session = connect(`http://127.0.1.1:${suite.fabric.gateway('a').outboundPort}`);
      try {
        for (const method of ['GET', 'POST']) {
          const stream = session.request({ ':method': method, ':path': '/', ':authority': service });
          const interim: unknown[] = [];
          stream.on('headers', (headers) => interim.push([headers[':status'], headers.link]));
          stream.end(method === 'POST' ? 'a body' : undefined);
          const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
          stream.resume();
          await once(stream, 'end');
          assert.deepEqual([headers[':status'], interim], [200, [[103, LINK]]], `${method} ${where}`);
        }
      } finally {
        session.close();
      }
    });

    test(`pipelined requests: a hint goes only to the answer on the wire, never into another (${where})`, async () => {
      const { got } = await rawExchange(
        suite.fabric.gateway('a').outboundPort,
        '127.0.1.1',
        `POST /slow HTTP/1.1\r\nHost: ${service}\r\nContent-Length: 1\r\n\r\nx` +
          `GET / HTTP/1.1\r\nHost: ${service}\r\nConnection: close\r\n\r\n`,
      );
      // Each final answer's body is exactly its own: no interim head inside it.
      const bodies: string[] = [];
      let rest = got;
      while (rest.length > 0) {
        const end = rest.indexOf('\r\n\r\n');
        assert.ok(end > 0, `a head in ${JSON.stringify(rest)}`);
        const head = rest.slice(0, end);
        rest = rest.slice(end + 4);
        if (/^HTTP\/1\.1 1\d\d /.test(head)) continue;
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
        bodies.push(rest.slice(0, length));
        rest = rest.slice(length);
      }
      assert.deepEqual(bodies, ['final', 'final'], got);
    });

    test(`HTTP/1.0 callers get the final answer only (${where})`, async () => {
      const { got } = await rawExchange(
        suite.fabric.gateway('a').outboundPort,
        '127.0.1.1',
        `GET / HTTP/1.0\r\nHost: ${service}\r\n\r\n`,
      );
      assert.match(got, /^HTTP\/1\.[01] 200 /);
      assert.doesNotMatch(got, / 103 /);
    });
  }
});
