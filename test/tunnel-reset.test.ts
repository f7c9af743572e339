// A tunnel cut short stays cut short: when the endpoint or the caller resets its TCP connection, the
// party at the other end of the tunnel sees a reset (ECONNRESET) too, not a clean end (FIN) that would
// pass a truncated upload or answer for a whole one. For `tcp:` listeners (to a local endpoint, and to
// cluster b over an opaque mTLS tunnel) and for WebSocket-style upgrades (locally, and to cluster b over
// an extended CONNECT stream, where the stream must be reset with an error code, not closed NO_ERROR).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { waitFor, within } from './helpers/wait.js';

/** One end of a tunnel: what it read, and how its connection ended ('end', or 'error <code>'). */
interface Party {
  readonly socket: Socket;
  got: string;
  readonly ended: string[];
}

function party(socket: Socket): Party {
  const p: Party = { socket, got: '', ended: [] };
  socket.on('data', (chunk: Buffer) => (p.got += chunk.toString('latin1')));
  socket.on('end', () => p.ended.push('end'));
  socket.on('error', (err: NodeJS.ErrnoException) => p.ended.push(`error ${err.code}`));
  return p;
}

/** An endpoint that keeps every connection open, ignoring EOF (allowHalfOpen), as a careless one would. */
async function startEndpoint(host: string): Promise<{ server: Server; accepted: Party[]; address: string }> {
  const accepted: Party[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => accepted.push(party(socket)));
  server.listen(0, host);
  await once(server, 'listening');
  return { server, accepted, address: `${host}:${(server.address() as AddressInfo).port}` };
}

describe('a tunnel cut short by one end is cut short at the other', () => {
  let fabric: TestFabric;
  let endpointA: Awaited<ReturnType<typeof startEndpoint>>;
  let endpointB: Awaited<ReturnType<typeof startEndpoint>>;

  before(async () => {
    endpointA = await startEndpoint('127.0.150.11');
    endpointB = await startEndpoint('127.0.150.12');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.150.1',
        services: [
          { name: 'cache', protocol: 'tcp', endpoints: [endpointA.address] },
          { name: 'chat', endpoints: [endpointA.address] },
        ],
        tcp: [{ service: 'db.default' }, { service: 'cache' }],
      },
      {
        cluster: 'b',
        host: '127.0.150.2',
        services: [
          { name: 'db', protocol: 'tcp', endpoints: [endpointB.address] },
          { name: 'feed', endpoints: [endpointB.address] },
        ],
      },
    ]);
  });

  after(async () => {
    await fabric?.close();
    for (const endpoint of [endpointA, endpointB]) {
      for (const p of endpoint?.accepted ?? []) p.socket.destroy();
      endpoint?.server.close();
    }
  });

  interface Tunnel {
    readonly name: string;
    /** The caller's connection to gateway a, with the tunnel open end to end. */
    open(t: TestContext): Promise<{ caller: Party; endpoint: Party }>;
  }

  const tcpTunnel = (name: string, service: string, endpoint: () => typeof endpointA): Tunnel => ({
    name,
    async open(t) {
      const a = fabric.gateway('a');
      const known = endpoint().accepted.length;
      const caller = party(connect({ host: a.host, port: a.tcpPort(service), allowHalfOpen: true }));
      t.after(() => caller.socket.destroy());
      caller.socket.write('hello');
      const far = await within('the endpoint to accept', 5_000, () => endpoint().accepted[known]);
      await waitFor('the caller’s bytes to reach the endpoint', () => far.got === 'hello', 5_000);
      return { caller, endpoint: far };
    },
  });

  const upgradeTunnel = (name: string, host: string, endpoint: () => typeof endpointA): Tunnel => ({
    name,
    async open(t) {
      const a = fabric.gateway('a');
      const known = endpoint().accepted.length;
      const caller = party(connect({ host: a.host, port: a.outboundPort, allowHalfOpen: true }));
      t.after(() => caller.socket.destroy());
      caller.socket.write(
        `GET /chat HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      const far = await within('the endpoint to accept', 5_000, () => endpoint().accepted[known]);
      await waitFor('the upgrade request to reach the endpoint', () => far.got.includes('\r\n\r\n'), 5_000);
      far.socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      await waitFor('the 101 to reach the caller', () => caller.got.endsWith('\r\n\r\n'), 5_000);
      assert.match(caller.got, /^HTTP\/1\.1 101 /);
      caller.got = '';
      return { caller, endpoint: far };
    },
  });

  const tunnels: Tunnel[] = [
    tcpTunnel('tcp: to a service in cluster b (opaque mTLS tunnel)', 'db.default', () => endpointB),
    tcpTunnel('tcp: to a local service', 'cache', () => endpointA),
    upgradeTunnel('an upgrade to a service in cluster b (extended CONNECT)', 'feed', () => endpointB),
    upgradeTunnel('an upgrade to a local service', 'chat', () => endpointA),
  ];

  for (const tunnel of tunnels) {
    test(`${tunnel.name}: the endpoint resets after some bytes; the caller gets them, then ECONNRESET`, async (t) => {
      const { caller, endpoint } = await tunnel.open(t);
      endpoint.socket.write('partial-data');
      // The bytes first, so that the reset does not arrive with them (libuv would read those as an end).
      await waitFor('the bytes to reach the caller', () => caller.got === 'partial-data', 5_000);
      endpoint.socket.resetAndDestroy();
      await waitFor('the caller’s connection to end', () => caller.ended.length > 0, 5_000);
      assert.deepEqual(caller.ended, ['error ECONNRESET']);
      assert.equal(caller.got, 'partial-data');
    });

    test(`${tunnel.name}: the caller resets; the endpoint gets ECONNRESET, not an end`, async (t) => {
      const { caller, endpoint } = await tunnel.open(t);
      caller.socket.resetAndDestroy();
      await waitFor('the endpoint’s connection to end', () => endpoint.ended.length > 0, 5_000);
      assert.deepEqual(endpoint.ended, ['error ECONNRESET']);
    });
  }
});
