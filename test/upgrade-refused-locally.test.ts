// An upgrade to a local endpoint is spliced only once the endpoint accepted it (101). An endpoint that
// ignores Upgrade (RFC 9110 §7.8 allows it) answers the request as a plain one: that answer reaches the
// caller and the connection closes, and bytes the caller sent after its request head never reach the
// endpoint (spliced at once, they were requests weft never saw: a forged weft-source-cluster, no
// routing, no metrics).
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { rawExchange } from './helpers/raw-exchange.js';

/** Request heads the endpoint read, and the sockets it holds. */
const seen: string[] = [];
const held: Socket[] = [];
/** Answers every request as a plain one (200, "plain") and keeps the connection, ignoring Upgrade. */
const ignoresUpgrade = createServer((socket) => {
  held.push(socket);
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
      seen.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 4);
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain');
    }
  });
});

let fabric: TestFabric;

before(async () => {
  ignoresUpgrade.listen(0, '127.0.1.40');
  await once(ignoresUpgrade, 'listening');
  const port = (ignoresUpgrade.address() as AddressInfo).port;
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.1.1', services: [{ name: 'plain', endpoints: [`127.0.1.40:${port}`] }] },
  ]);
});

after(async () => {
  await fabric?.close();
  for (const socket of held) socket.destroy();
  ignoresUpgrade.close();
});

test(
  'an endpoint that ignores Upgrade answers the caller; what followed the request head never reaches it',
  { timeout: 15_000 },
  async () => {
    const a = fabric.gateway('a');
    const { got: answer } = await rawExchange(
      a.outboundPort,
      a.host,
      'GET /ws HTTP/1.1\r\nHost: plain\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
        'GET /admin HTTP/1.1\r\nHost: plain\r\nweft-source-cluster: forged\r\n\r\n',
    );
    console.log(`caller got ${JSON.stringify(answer)}; endpoint read ${seen.length} request head(s)`);
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /connection: close\r\n/);
    assert.ok(answer.endsWith('\r\n\r\nplain'), answer);
    assert.equal(seen.length, 1, `the endpoint read: ${JSON.stringify(seen)}`);
    assert.match(seen[0] ?? '', /^GET \/ws HTTP\/1\.1/);
    assert.match(seen[0] ?? '', /weft-source-cluster: a\r?$/m);
  },
);
