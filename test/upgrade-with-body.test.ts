// Upgrade requests that carry a body. An offer to upgrade to h2c (curl --http2 makes it on every request
// to an http:// URL) is not taken up: the request, body included, reaches the service as a plain one, in
// the caller's cluster and in another, and the connection closes after the answer. An upgrade to another
// protocol takes its body (Content-Length) to a local endpoint with its head, so an endpoint that answers
// it as a plain request does so at once; with a body to another cluster, or a chunked one, it is refused
// at once (400), not after the 15 s the gateway waits for an answer to an upgrade.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { rawExchange } from './helpers/raw-exchange.js';
import { waitFor } from './helpers/wait.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly upgrade: string | undefined;
  readonly body: string;
}

/** A plain Node endpoint (no 'upgrade' listener: Upgrade is ignored) answering `<cluster> <method> <body>`. */
function plainEndpoint(cluster: string, seen: Seen[]): Server {
  return createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', upgrade: req.headers.upgrade, body });
      res.end(`${cluster} ${req.method} ${body}`);
    });
  });
}

const seenA: Seen[] = [];
const seenB: Seen[] = [];
const endpointA = plainEndpoint('a', seenA);
const endpointB = plainEndpoint('b', seenB);
let fabric: TestFabric;

async function listen(server: Server, host: string): Promise<string> {
  server.listen(0, host);
  await once(server, 'listening');
  return `${host}:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  const atA = await listen(endpointA, '127.0.160.10');
  const atB = await listen(endpointB, '127.0.160.20');
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.160.1', services: [{ name: 'here', endpoints: [atA] }] },
    { cluster: 'b', host: '127.0.160.2', services: [{ name: 'there', endpoints: [atB] }] },
  ]);
});

after(async () => {
  await fabric?.close();
  endpointA.closeAllConnections();
  endpointA.close();
  endpointB.closeAllConnections();
  endpointB.close();
});

/** Sends `request` to gateway a's outbound listener; the answer once the connection closed, and how long. */
async function exchange(request: string): Promise<{ got: string; ms: number }> {
  const a = fabric.gateway('a');
  const started = Date.now();
  const { got } = await rawExchange(a.outboundPort, a.host, request);
  return { got, ms: Date.now() - started };
}

function h2cOffer(service: string, framing: string, body: string): string {
  return (
    `POST /h2c HTTP/1.1\r\nHost: ${service}\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n` +
    `Connection: Upgrade, HTTP2-Settings\r\n${framing}\r\n\r\n${body}`
  );
}

for (const [where, service, cluster, seen] of [
  ['in the caller’s cluster', 'here', 'a', seenA],
  ['in another cluster', 'there', 'b', seenB],
] as const) {
  test(
    `an h2c upgrade offer with a body reaches a service ${where} as a plain POST`,
    { timeout: 20_000 },
    async () => {
      const before = seen.length;
      // A request pipelined after the offer is not one (the connection closes after the answer).
      const { got } = await exchange(
        h2cOffer(service, 'Content-Length: 5', 'hello') + `GET /sneaked HTTP/1.1\r\nHost: ${service}\r\n\r\n`,
      );
      console.log(`h2c offer to ${service}: ${JSON.stringify(got)}`);
      assert.match(got, /^HTTP\/1\.1 200 /, got);
      assert.match(got, /\r\nConnection: close\r\n/, got);
      assert.ok(got.endsWith(`\r\n\r\n${cluster} POST hello`), got);
      assert.equal(seen.length, before + 1, JSON.stringify(seen.slice(before)));
      assert.deepEqual(seen.at(-1), { method: 'POST', url: '/h2c', upgrade: undefined, body: 'hello' });
    },
  );
}

test('an h2c upgrade offer with a chunked body reaches the service whole', { timeout: 20_000 }, async () => {
  const { got } = await exchange(
    h2cOffer('here', 'Transfer-Encoding: chunked', '3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n'),
  );
  assert.match(got, /^HTTP\/1\.1 200 /, got);
  assert.ok(got.endsWith('\r\n\r\na POST hello'), got);
  assert.equal(seenA.at(-1)?.body, 'hello');
});

test(
  'an upgrade with a body to a local endpoint that ignores Upgrade is answered at once; what follows the body is held back',
  { timeout: 20_000 },
  async () => {
    const before = seenA.length;
    const { got, ms } = await exchange(
      'POST /foo HTTP/1.1\r\nHost: here\r\nConnection: Upgrade\r\nUpgrade: foo\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /sneaked HTTP/1.1\r\nHost: here\r\n\r\n',
    );
    console.log(`Upgrade: foo with a body, local: ${JSON.stringify(got)} after ${ms} ms`);
    assert.match(got, /^HTTP\/1\.1 200 /, got);
    assert.ok(got.endsWith('\r\n\r\na POST hello'), got);
    assert.ok(ms < 5_000, `answered after ${ms} ms`);
    assert.equal(seenA.length, before + 1, JSON.stringify(seenA.slice(before)));
    assert.deepEqual(seenA.at(-1), { method: 'POST', url: '/foo', upgrade: 'foo', body: 'hello' });
  },
);

test(
  'an upgrade whose caller sends its body after 100 Continue takes the body to the local endpoint',
  { timeout: 20_000 },
  async () => {
    const a = fabric.gateway('a');
    const socket = connect({ port: a.outboundPort, host: a.host, allowHalfOpen: true });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (got += chunk));
    socket.write(
      'POST /later HTTP/1.1\r\nHost: here\r\nConnection: Upgrade\r\nUpgrade: foo\r\n' +
        'Expect: 100-continue\r\nContent-Length: 5\r\n\r\n',
    );
    await waitFor('100 Continue', () => got.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 5_000);
    socket.write('hello');
    await once(socket, 'end');
    socket.destroy();
    assert.match(got, /\r\n\r\nHTTP\/1\.1 200 [\s\S]*\r\n\r\na POST hello$/, got);
    assert.deepEqual(seenA.at(-1), { method: 'POST', url: '/later', upgrade: 'foo', body: 'hello' });
  },
);

for (const [what, service, framing, body] of [
  ['a body to another cluster', 'there', 'Content-Length: 5', 'hello'],
  ['a chunked body', 'here', 'Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n'],
  ['a body over 64 KiB', 'here', `Content-Length: ${64 * 1024 + 1}`, ''],
] as const) {
  test(`an upgrade with ${what} is refused at once with 400`, { timeout: 20_000 }, async () => {
    const before = [seenA.length, seenB.length];
    const { got, ms } = await exchange(
      `POST /foo HTTP/1.1\r\nHost: ${service}\r\nConnection: Upgrade\r\nUpgrade: foo\r\n${framing}\r\n\r\n${body}`,
    );
    console.log(`Upgrade: foo with ${what}: ${JSON.stringify(got)} after ${ms} ms`);
    assert.match(got, /^HTTP\/1\.1 400 [\s\S]*weft-error: BAD_REQUEST\r\n/, got);
    assert.match(got, /send the body after the upgrade, or as a request without Upgrade/);
    assert.ok(ms < 5_000, `answered after ${ms} ms`);
    assert.deepEqual([seenA.length, seenB.length], before, 'no endpoint was reached');
  });
}
