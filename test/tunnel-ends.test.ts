// Byte tunnels — HTTP Upgrade through the outbound listener and `tcp:` listeners, to a local endpoint and
// across clusters — carry each direction's end on its own and tell a cut from an end. An endpoint that
// finishes sending first still gets what its caller sends after that, then the caller's end; a caller that
// resets instead reaches the endpoint as a reset, so an upload cut short never reads as a whole one. At the
// drain deadline a tunnel still open is cut the same way at both ends, and so is an answer in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { listenOnLoopback } from './helpers/listen-address.js';
import { waitFor, within } from './helpers/wait.js';

/** One end of a tunnel as its party sees it: what it read, and how its reading ended. */
interface Party {
  readonly socket: Socket;
  got: string;
  ending: string | undefined;
}

function party(socket: Socket): Party {
  const p: Party = { socket, got: '', ending: undefined };
  socket.on('data', (chunk: Buffer) => (p.got += chunk.toString('latin1')));
  socket.on('end', () => (p.ending ??= 'end'));
  socket.on('error', (err: NodeJS.ErrnoException) => (p.ending ??= err.code ?? err.message));
  return p;
}

/** A TCP endpoint that keeps every accepted connection half-open, as a Party. */
class Endpoint {
  readonly accepted: Party[] = [];
  readonly server: Server = createServer({ allowHalfOpen: true }, (s) => this.accepted.push(party(s)));
  address = '';

  async listen(host: string): Promise<this> {
    this.address = await listenOnLoopback(this.server, host);
    return this;
  }

  close(): void {
    for (const p of this.accepted) p.socket.destroy();
    this.server.close();
  }
}

const A = '127.0.93.1';
const B = '127.0.94.1';

describe('tunnel ends', () => {
  let fabric: TestFabric;
  const local = new Endpoint();
  const remote = new Endpoint();

  before(async () => {
    await local.listen('127.0.93.2');
    await remote.listen('127.0.94.2');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: A,
        services: [
          { name: 'cache', protocol: 'tcp', endpoints: [local.address] },
          { name: 'chat', endpoints: [local.address] },
        ],
        tcp: [{ service: 'db.default' }, { service: 'cache' }],
      },
      {
        cluster: 'b',
        host: B,
        services: [
          { name: 'db', protocol: 'tcp', endpoints: [remote.address] },
          { name: 'feed', endpoints: [remote.address] },
        ],
      },
    ]);
  });

  after(async () => {
    await fabric?.close();
    local.close();
    remote.close();
  });

  /** A caller upgraded to `host`'s endpoint: both parties, with the request and the 101 read. */
  async function openUpgrade(host: string, endpoint: Endpoint): Promise<{ caller: Party; far: Party }> {
    const a = fabric.gateway('a');
    const known = endpoint.accepted.length;
    const caller = party(connect({ host: a.host, port: a.outboundPort, allowHalfOpen: true }));
    caller.socket.write(
      `GET /chat HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    );
    const far = await within('the endpoint to accept', 5_000, () => endpoint.accepted[known]);
    await waitFor('the upgrade request', () => far.got.includes('\r\n\r\n'), 5_000);
    far.got = '';
    far.socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await waitFor('the 101', () => caller.got.endsWith('\r\n\r\n'), 5_000);
    caller.got = '';
    return { caller, far };
  }

  /** A caller of the `tcp:` listener bound to `service`: both parties, with a first message across. */
  async function openTcp(service: string, endpoint: Endpoint): Promise<{ caller: Party; far: Party }> {
    const a = fabric.gateway('a');
    const known = endpoint.accepted.length;
    const caller = party(connect({ host: a.host, port: a.tcpPort(service), allowHalfOpen: true }));
    caller.socket.write('hello');
    const far = await within('the endpoint to accept', 5_000, () => endpoint.accepted[known]);
    await waitFor('the first message', () => far.got === 'hello', 5_000);
    far.got = '';
    return { caller, far };
  }

  const kinds: [string, () => Promise<{ caller: Party; far: Party }>][] = [
    ['an upgrade to another cluster', () => openUpgrade('feed', remote)],
    ['a local upgrade', () => openUpgrade('chat', local)],
    ['a tcp: tunnel to another cluster', () => openTcp('db.default', remote)],
    ['a local tcp: tunnel', () => openTcp('cache', local)],
  ];

  for (const [kind, open] of kinds) {
    test(`${kind}: the endpoint ends first; the caller still sends, then ends`, async () => {
      const { caller, far } = await open();
      far.socket.end('bye');
      await waitFor('the caller to read the end', () => caller.ending !== undefined, 5_000);
      assert.equal(caller.got, 'bye');
      assert.equal(caller.ending, 'end');
      caller.socket.end('more-upload');
      await waitFor('the endpoint to read the end', () => far.ending !== undefined, 5_000);
      assert.equal(far.got, 'more-upload');
      assert.equal(far.ending, 'end');
    });

    test(`${kind}: the endpoint ends first; the caller resets and the endpoint sees a reset`, async () => {
      const { caller, far } = await open();
      far.socket.end('bye');
      await waitFor('the caller to read the end', () => caller.ending !== undefined, 5_000);
      caller.socket.write('part of an upload');
      await waitFor('the endpoint to read it', () => far.got === 'part of an upload', 5_000);
      caller.socket.resetAndDestroy();
      await waitFor('the endpoint to read the cut', () => far.ending !== undefined, 5_000);
      assert.equal(far.ending, 'ECONNRESET');
    });
  }

  /** Opens one tunnel of each kind in `kinds`, drains `cluster` with a short deadline, and says how each ended. */
  async function drainWithTunnels(
    cluster: string,
    opened: readonly (readonly [string, () => Promise<{ caller: Party; far: Party }>])[],
  ) {
    const tunnels: { kind: string; caller: Party; far: Party }[] = [];
    for (const [kind, open] of opened) tunnels.push({ kind, ...(await open()) });
    await fabric.gateway(cluster).dataPlane.drain(300);
    await waitFor(
      'every party to see its tunnel end',
      () => tunnels.every((t) => t.caller.ending !== undefined && t.far.ending !== undefined),
      5_000,
    );
    return tunnels.map((t) => `${t.kind}: caller ${t.caller.ending}, endpoint ${t.far.ending}`);
  }

  test('tunnels to a cluster whose gateway drains are cut at its deadline, as resets at both ends', async () => {
    const crossing = kinds.filter(([kind]) => kind.includes('another cluster'));
    assert.deepEqual(await drainWithTunnels('b', crossing), [
      'an upgrade to another cluster: caller ECONNRESET, endpoint ECONNRESET',
      'a tcp: tunnel to another cluster: caller ECONNRESET, endpoint ECONNRESET',
    ]);
  });

  /** An HTTP/1.0 answer whose end is the connection's, half sent by a local endpoint (Node's parser path). */
  async function openAnswer(): Promise<{ caller: Party; far: Party }> {
    const a = fabric.gateway('a');
    const known = local.accepted.length;
    const caller = party(connect({ host: a.host, port: a.outboundPort }));
    caller.socket.write('POST / HTTP/1.0\r\nHost: chat\r\nContent-Length: 1\r\n\r\nx');
    const far = await within('the endpoint to accept', 5_000, () => local.accepted[known]);
    await waitFor('the request', () => far.got.endsWith('\r\n\r\nx'), 5_000);
    far.socket.write('HTTP/1.0 200 OK\r\n\r\nthe first half');
    await waitFor('the first half', () => caller.got.endsWith('the first half'), 5_000);
    return { caller, far };
  }

  test('tunnels and answers through a gateway that drains are cut at its deadline, as resets', async () => {
    const staying = [
      ...kinds.filter(([kind]) => kind.startsWith('a local')),
      ['an answer', openAnswer] as const,
    ];
    assert.deepEqual(await drainWithTunnels('a', staying), [
      'a local upgrade: caller ECONNRESET, endpoint ECONNRESET',
      'a local tcp: tunnel: caller ECONNRESET, endpoint ECONNRESET',
      // The gateway's connection to the endpoint closes as its pool does.
      'an answer: caller ECONNRESET, endpoint end',
    ]);
  });
});
