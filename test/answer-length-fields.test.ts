// An endpoint's 1xx and 204 answers that carry a Content-Length (RFC 9110 §8.6 forbids it) reach the
// caller without it, on both of the outbound listener's HTTP/1.1 parsers: a lenient client would take
// the next bytes on the connection for the body it announces.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { listenOnLoopback } from './helpers/listen-address.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.96.1';
let fabric: TestFabric;
/** Answers every request head with a 103 and then a 204, each announcing 5 bytes of body it does not send. */
let endpoint: Server;

before(async () => {
  endpoint = createServer((socket) => {
    let unread = '';
    socket.on('data', (chunk: Buffer) => {
      unread += chunk.toString('latin1');
      const end = unread.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/^content-length: *(\d+)$/im.exec(unread.slice(0, end))?.[1] ?? 0);
      if (unread.length < end + 4 + length) return;
      unread = unread.slice(end + 4 + length);
      socket.write(
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nContent-Length: 5\r\n\r\n' +
          'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
      );
    });
  });
  fabric = await TestFabric.start([
    {
      cluster: 'a',
      host: HOST,
      services: [{ name: 'hints', endpoints: [await listenOnLoopback(endpoint, HOST)] }],
    },
  ]);
});

after(async () => {
  await fabric?.close();
  endpoint?.close();
});

for (const [parser, request] of [
  ['the fast path', 'GET / HTTP/1.1\r\nHost: hints\r\n\r\n'],
  ["Node's parser", 'POST / HTTP/1.1\r\nHost: hints\r\nContent-Length: 2\r\n\r\nhi'],
] as const) {
  test(`a 103 and a 204 reach the caller without the Content-Length the endpoint gave them (${parser})`, async (t) => {
    const a = fabric.gateway('a');
    const caller = connect({ host: a.host, port: a.outboundPort });
    t.after(() => caller.destroy());
    let received = '';
    caller.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    caller.write(request);
    await waitFor('the 204', () => /HTTP\/1\.1 204 [^]*\r\n\r\n/.test(received), 5_000);
    const heads = received.split('\r\n\r\n').filter(Boolean);
    assert.match(heads[0] ?? '', /^HTTP\/1\.1 103 /);
    assert.match(heads[0] ?? '', /^link: <\/style\.css>; rel=preload$/im);
    assert.match(heads[1] ?? '', /^HTTP\/1\.1 204 /);
    for (const head of heads) assert.doesNotMatch(head, /^content-length:/im, head);
  });
}

test("a 204 keeps an HTTP/1.0 caller's keep-alive connection, though it has no Content-Length", async (t) => {
  const a = fabric.gateway('a');
  const caller = connect({ host: a.host, port: a.outboundPort });
  t.after(() => caller.destroy());
  let received = '';
  caller.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const request = 'PUT / HTTP/1.0\r\nHost: hints\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi';
  caller.write(request);
  await waitFor('the first 204', () => /HTTP\/1\.1 204 [^]*\r\n\r\n/.test(received), 5_000);
  assert.match(received, /^connection: keep-alive$/im);
  caller.write(request);
  await waitFor('the second 204', () => (received.match(/HTTP\/1\.1 204 /g) ?? []).length === 2, 5_000);
});
