// Answers that Node's HTTP/1 server could not write, and a request an HTTP/2 caller holds back, locally and
// across clusters. An endpoint's `Trailer` field is legal on any answer, but trailers follow only a chunked
// body: to an HTTP/1.0 caller, with a Content-Length, or on a 204, Node refused the whole head, and the
// caller got a 502 (on a 204 one that announced a body it never sent, on a connection kept open). An HTTP/2
// caller that sends `expect: 100-continue` waits for a 100 before its body, which the gateway may need
// whole before it picks an endpoint: it must be told to send, as HTTP/1.1 callers are.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect as connectH2 } from 'node:http2';
import { createServer, type Server } from 'node:net';
import { useNearAndFar } from './helpers/near-far-fabric.js';
import { rawExchange } from './helpers/raw-exchange.js';

const ANSWERS: Readonly<Record<string, string>> = {
  '/chunked':
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n' +
    '5\r\nhello\r\n0\r\nx-checksum: abc\r\n\r\n',
  '/length': 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntrailer: x-checksum\r\n\r\nhello',
  '/empty': 'HTTP/1.1 204 No Content\r\ntrailer: x-checksum\r\n\r\n',
};

/** An HTTP/1.1 endpoint answering each request by its path, after reading its Content-Length body. */
function cannedEndpoint(): Server {
  return createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        const path = head.split(' ')[1] ?? '/';
        socket.write(ANSWERS[path] ?? 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nbody');
      }
    });
  });
}

describe('answers Node’s server could not write, and HTTP/2 callers that wait for 100 Continue', () => {
  const suite = useNearAndFar(cannedEndpoint, ['127.0.1.95', '127.0.2.95']);

  for (const service of ['near', 'far']) {
    const where = service === 'near' ? 'locally' : 'across clusters';

    test(`an endpoint's Trailer field does not cost the answer (${where})`, async () => {
      const port = suite.fabric.gateway('a').outboundPort;
      const http10 = await rawExchange(
        port,
        '127.0.1.1',
        `POST /chunked HTTP/1.0\r\nHost: ${service}\r\nContent-Length: 1\r\n\r\nx`,
      );
      assert.match(http10.got, /^HTTP\/1\.1 200 /, http10.got);
      assert.ok(http10.got.endsWith('\r\n\r\nhello'), http10.got);

      // Two requests on one keep-alive connection (Node's parser reads bodies): each gets its own answer.
      const keepAlive = await rawExchange(
        port,
        '127.0.1.1',
        `POST /length HTTP/1.1\r\nHost: ${service}\r\nContent-Length: 1\r\n\r\nx` +
          `POST /empty HTTP/1.1\r\nHost: ${service}\r\nContent-Length: 1\r\n\r\nx` +
          `POST /other HTTP/1.1\r\nHost: ${service}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx`,
      );
      const statuses = [...keepAlive.got.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
      assert.deepEqual(statuses, ['200', '204', '200'], keepAlive.got);
      assert.ok(keepAlive.got.endsWith('\r\n\r\nbody'), keepAlive.got);
    });

    test(
      `an HTTP/2 caller waiting for 100 Continue is told to send its body (${where})`,
      { timeout: 10_000 },
      async () => {
        const session = connectH2(`http://127.0.1.1:${suite.fabric.gateway('a').outboundPort}`);
        try {
          const stream = session.request({
            ':method': 'POST',
            ':path': '/other',
            ':authority': service,
            expect: '100-continue',
            'content-length': '5',
          });
          await once(stream, 'continue');
          stream.end('hello');
          const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
          let body = '';
          stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          await once(stream, 'end');
          assert.deepEqual([headers[':status'], body], [200, 'body']);
        } finally {
          session.close();
        }
      },
    );
  }

  test('an HTTP/1.1 caller gets the endpoint’s trailers after a chunked body', async () => {
    const answer = await new Promise<{ trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.1.1',
          port: suite.fabric.gateway('a').outboundPort,
          method: 'POST',
          path: '/chunked',
          headers: { host: 'near', te: 'trailers' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ trailers: res.trailers }));
        },
      );
      req.on('error', reject);
      req.end('x');
    });
    assert.equal(answer.trailers['x-checksum'], 'abc');
  });
});
