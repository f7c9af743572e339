// An endpoint's answer to an upgrade other than 101 is relayed to the caller as a one-shot answer that
// ends where the connection does. The gateway keeps at most 64 KiB of its body: a longer one reaches the
// caller cut (a TCP reset), never ended with a FIN as if whole, whether the endpoint is in the caller's
// cluster or behind a peer gateway; a short one arrives whole.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { rawExchange } from './helpers/raw-exchange.js';

const BIG_BODY_BYTES = 100_000;
const held: Socket[] = [];

/**
 * Refuses every upgrade: `/small` with a 403 and a 2-byte body, `/big` with a 403 and 100 000 bytes,
 * `/empty` with a 204 (no body, which HTTP/2 carries without a length).
 */
function refusingEndpoint(): Server {
  return createServer((socket) => {
    held.push(socket);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      if (!buffered.includes('\r\n\r\n')) return;
      if (buffered.startsWith('GET /empty ')) {
        socket.write('HTTP/1.1 204 No Content\r\n\r\n');
        return;
      }
      const body = buffered.startsWith('GET /big ') ? 'x'.repeat(BIG_BODY_BYTES) : 'no';
      socket.write(`HTTP/1.1 403 Forbidden\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    });
  });
}

async function listenOn(server: Server, host: string): Promise<string> {
  server.listen(0, host);
  await once(server, 'listening');
  return `${host}:${(server.address() as AddressInfo).port}`;
}

const here = refusingEndpoint();
const there = refusingEndpoint();
let fabric: TestFabric;

before(async () => {
  const hereAt = await listenOn(here, '127.0.1.41');
  const thereAt = await listenOn(there, '127.0.2.41');
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.1.1', services: [{ name: 'refuser-here', endpoints: [hereAt] }] },
    {
      cluster: 'b',
      host: '127.0.2.1',
      services: [
        { name: 'refuser', endpoints: [thereAt] },
        // Nothing listens there: b itself refuses the upgrade (503).
        { name: 'down', endpoints: ['127.0.2.42:9'] },
      ],
    },
  ]);
});

after(async () => {
  await fabric?.close();
  for (const socket of held) socket.destroy();
  here.close();
  there.close();
});

function upgrade(path: string, service: string): Promise<{ got: string; reset: boolean }> {
  const a = fabric.gateway('a');
  return rawExchange(
    a.outboundPort,
    a.host,
    `GET ${path} HTTP/1.1\r\nHost: ${service}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
  );
}

for (const [where, service] of [
  ['the caller’s cluster', 'refuser-here'],
  ['another cluster', 'refuser'],
] as const) {
  test(`an empty refusal (204) from ${where} reaches the caller whole`, { timeout: 15_000 }, async () => {
    const { got, reset } = await upgrade('/empty', service);
    assert.match(got, /^HTTP\/1\.1 204 /);
    assert.equal(reset, false, 'a whole refusal was reset');
  });

  test(`a short refusal from ${where} reaches the caller whole`, { timeout: 15_000 }, async () => {
    const { got, reset } = await upgrade('/small', service);
    assert.match(got, /^HTTP\/1\.1 403 /);
    assert.ok(got.endsWith('\r\n\r\nno'), got);
    assert.equal(reset, false, 'a whole refusal was reset');
  });

  test(
    `a refusal from ${where} longer than the gateway keeps reaches the caller cut`,
    { timeout: 15_000 },
    async () => {
      const { got, reset } = await upgrade('/big', service);
      const head = got.slice(0, got.indexOf('\r\n\r\n'));
      const bodyBytes = got.length - head.length - 4;
      console.log(`caller got ${bodyBytes} body bytes of ${BIG_BODY_BYTES}, reset ${reset}`);
      assert.match(head, /^HTTP\/1\.1 403 /);
      assert.doesNotMatch(head, /content-length/i, 'the head claims a length the body does not have');
      assert.ok(bodyBytes < BIG_BODY_BYTES, `got ${bodyBytes} body bytes`);
      assert.equal(reset, true, 'the connection closed cleanly: the caller takes the refusal for whole');
    },
  );
}

test(
  'a refusal the peer gateway answers itself (its endpoint is down) reaches the caller whole',
  { timeout: 15_000 },
  async () => {
    const { got, reset } = await upgrade('/ws', 'down');
    assert.match(got, /^HTTP\/1\.1 503 /);
    assert.match(got, /weft-error: UPSTREAM_CONNECT\r\n/);
    assert.equal(reset, false, 'a whole refusal was reset');
  },
);
