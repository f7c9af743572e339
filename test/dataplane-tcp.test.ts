// Opaque TCP through tcp: listeners: to a service only cluster b runs (a CONNECT stream on the shared
// peer connection) and to a local one, byte-exact with half-close; listeners follow config reloads;
// every socket of an idle tunnel has TCP keep-alive on, so a dead host's tunnel does not stay for good.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { parseConfigObject } from '../gateway/config/index.js';
import { tcpRoundTrip } from '../gateway/demo/demo-calls.js';
import { LINGER_MS } from '../gateway/listeners/lingering-close.js';
import { OPAQUE_TCP_ALPN } from '../gateway/transport/opaque-tunnel.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { patternBytes, startTcpEcho } from './helpers/sample-upstreams.js';
import { ESTABLISHED, KEEPALIVE_TIMER, tcpSockets, type TcpSocketRow } from './helpers/proc-net-tcp.js';
import { waitFor } from './helpers/wait.js';

describe('data plane: TCP', () => {
  let fabric: TestFabric;
  let echoB: Awaited<ReturnType<typeof startTcpEcho>>;
  let echoA: Awaited<ReturnType<typeof startTcpEcho>>;

  before(async () => {
    echoB = await startTcpEcho('127.0.2.30');
    echoA = await startTcpEcho('127.0.1.30');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [{ name: 'cache', protocol: 'tcp', endpoints: [echoA.endpoint] }],
        tcp: [
          { service: 'db.default' },
          { service: 'cache' },
          { service: 'nothing.default' },
          { service: 'web.default' },
        ],
      },
      {
        cluster: 'b',
        host: '127.0.2.1',
        services: [
          { name: 'db', protocol: 'tcp', endpoints: [echoB.endpoint] },
          // An HTTP service: opaque TCP must not reach it (the echo behind it stands in for its endpoint).
          { name: 'web', endpoints: [echoB.endpoint] },
        ],
      },
    ]);
  });

  after(async () => {
    await fabric?.close();
    await echoB?.close();
    await echoA?.close();
  });

  /** Gateway a's config with `tcp` as its tcp listeners (what a reload would read). */
  const configWithTcp = (tcp: { listen: string; service: string }[]) => {
    const a = fabric.gateway('a');
    return parseConfigObject(
      {
        cluster: 'a',
        locality: a.config.locality,
        trustDomain: a.config.trustDomain,
        redis: 'redis://127.0.0.1:1',
        tls: a.config.tls,
        listen: { outbound: `${a.host}:0`, peer: `${a.host}:0` },
        services: [{ name: 'cache', protocol: 'tcp', endpoints: [echoA.endpoint] }],
        tcp,
      },
      a.config.source,
    );
  };

  test('every gateway socket of an idle tunnel probes with TCP keep-alive', async (t) => {
    const a = fabric.gateway('a');
    const b = fabric.gateway('b');
    const aTcp = a.tcpPort('db.default');
    const bPeer = Number(b.peerAddress.split(':')[1]);
    const toPeer = async () =>
      new Set((await tcpSockets()).filter((s) => s.remotePort === bPeer).map((s) => s.localPort));
    // The connections between a and b before the tunnel (pooled HTTP/2, busy with probes).
    const pooled = await toPeer();
    const app = connect({ host: a.host, port: aTcp });
    t.after(() => app.destroy());
    app.write('ping');
    await once(app, 'data');
    const tunnelPort = [...(await toPeer())].find((port) => !pooled.has(port));
    assert.ok(tunnelPort !== undefined, 'the tunnel’s own connection to b');
    // The gateways' ends: a's accepted one, both ends of the tunnel, b's dial to the echo server.
    const gatewaySide = (s: TcpSocketRow) =>
      s.localPort === aTcp ||
      s.localPort === tunnelPort ||
      s.remotePort === tunnelPort ||
      s.remotePort === echoB.port;
    await waitFor(
      'all four with a keep-alive timer',
      async () => {
        const rows = (await tcpSockets()).filter((s) => s.state === ESTABLISHED && gatewaySide(s));
        return rows.length === 4 && rows.every((row) => row.timer === KEEPALIVE_TIMER);
      },
      5_000,
    );
  });

  test('a large payload crosses to b and back byte-exact; the client half-closes and still reads everything', async () => {
    const a = fabric.gateway('a');
    const payload = patternBytes(6 * 1024 * 1024 + 17);
    const echoed = await tcpRoundTrip(a.host, a.tcpPort('db.default'), payload);
    assert.equal(echoed.length, payload.length);
    assert.ok(echoed.equals(payload));
  });

  test('concurrent tunnels are independent, byte-exact, and released when they close', async () => {
    const a = fabric.gateway('a');
    const payloads = Array.from({ length: 20 }, (_, i) => patternBytes(50_000 + i));
    const echoed = await Promise.all(payloads.map((p) => tcpRoundTrip(a.host, a.tcpPort('db.default'), p)));
    echoed.forEach((e, i) => assert.ok(e.equals(payloads[i] as Buffer), `tunnel ${i}`));
    const tunnels = () => a.dataPlane.state().peers.find((p) => p.cluster === 'b')?.tcpTunnels;
    await waitFor('every tunnel to b released', () => tunnels() === 0, 5_000);
  });

  test('a local TCP service is spliced directly, half-close included', async () => {
    const a = fabric.gateway('a');
    const before = echoA.connections();
    const payload = patternBytes(1024 * 1024);
    assert.ok((await tcpRoundTrip(a.host, a.tcpPort('cache'), payload)).equals(payload));
    assert.equal(echoA.connections(), before + 1);
  });

  test('a client that shuts down its write side at once, sending nothing, still gets the end back', async () => {
    const a = fabric.gateway('a');
    for (const service of ['db.default', 'cache']) {
      const echoed = await tcpRoundTrip(a.host, a.tcpPort(service), Buffer.alloc(0));
      assert.equal(echoed.length, 0, service);
    }
  });

  test('a listener bound to a service nobody runs closes the connection at once', async () => {
    const a = fabric.gateway('a');
    const echoed = await tcpRoundTrip(a.host, a.tcpPort('nothing.default'), Buffer.from('hello')).catch(() =>
      Buffer.alloc(0),
    );
    assert.equal(echoed.length, 0);
  });

  /** How gateway a connects to b's peer listener for a tunnel: a's certificate, ALPN weft-tcp. */
  function peerTlsOfA(): ConnectionOptions {
    const [host, port] = fabric.gateway('b').peerAddress.split(':');
    const { ca, cert, key } = fabric.gateway('a').tls.paths;
    return {
      host,
      port: Number(port),
      ca: readFileSync(ca),
      cert: readFileSync(cert),
      key: readFileSync(key),
      ALPNProtocols: [OPAQUE_TCP_ALPN],
      checkServerIdentity: () => undefined,
    };
  }

  /**
   * A weft-tcp tunnel to b with a's certificate, asking for `service`; resolves once b has answered and
   * ended its side. The caller keeps its own side open: tls.connect passes allowHalfOpen on to the socket,
   * though its types do not list it.
   */
  async function tunnelToB(service: string): Promise<{ socket: TLSSocket; answer: string }> {
    const options: ConnectionOptions & { allowHalfOpen: boolean } = { ...peerTlsOfA(), allowHalfOpen: true };
    const socket = connectTls(options);
    socket.on('error', () => undefined);
    await once(socket, 'secureConnect');
    socket.write(`weft-tcp/1 ${service}\r\n`);
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    await once(socket, 'end');
    return { socket, answer };
  }

  test(
    'b resumes no TLS session: a caller always shows a certificate that is valid now',
    { timeout: 15_000 },
    async () => {
      // A resumed session skips the certificate checks: one whose certificate expired could come back.
      const handshake = async (session?: Buffer) => {
        const socket = connectTls({ ...peerTlsOfA(), session });
        socket.on('error', () => undefined);
        let ticket: Buffer | undefined;
        socket.on('session', (s: Buffer) => (ticket = s));
        await once(socket, 'secureConnect');
        const reused = socket.isSessionReused();
        socket.write('weft-tcp/1 db.default\r\n');
        await waitFor('a session ticket, if b sends one', () => ticket !== undefined, 2_000).catch(
          () => undefined,
        );
        socket.destroy();
        return { reused, ticket };
      };
      const first = await handshake();
      assert.equal(first.reused, false);
      const second = await handshake(first.ticket);
      assert.equal(second.reused, false, 'b resumed a session');
    },
  );

  test('a peer tunnel refused by b is closed within the linger time, though its caller keeps its side open', async () => {
    const b = fabric.gateway('b');
    // The tunnels b's peer listener holds open (other gateways' HTTP/2 sessions come and go around them).
    const tunnelsAtB = () =>
      (b.dataPlane as unknown as { peerListener: { tunnels: Set<unknown> } }).peerListener.tunnels.size;
    const { socket, answer } = await tunnelToB('nosuch.default');
    try {
      const answered = performance.now();
      assert.match(answer, /^ERR NO_ROUTE /);
      assert.equal(tunnelsAtB(), 1, 'answered, the tunnel is still open at b');
      await waitFor('b to close the refused tunnel', () => tunnelsAtB() === 0, LINGER_MS + 5_000);
      const lingered = performance.now() - answered;
      console.log(`b closed the refused tunnel ${Math.round(lingered)} ms after its answer`);
    } finally {
      socket.destroy();
    }
  });

  test(
    'opaque TCP reaches only tcp services: an HTTP service is refused, from a peer and from a tcp: listener',
    { timeout: 15_000 },
    async () => {
      // Tunnelled bytes pass the gateway unread: an HTTP request inside could name its own weft-source-cluster.
      const { socket, answer } = await tunnelToB('web.default');
      socket.destroy();
      assert.match(answer, /^ERR BAD_REQUEST service web\.default speaks http: opaque TCP reaches only/);
      const a = fabric.gateway('a');
      const before = echoB.connections();
      const echoed = await tcpRoundTrip(a.host, a.tcpPort('web.default'), Buffer.from('hello')).catch(() =>
        Buffer.alloc(0),
      );
      assert.equal(echoed.length, 0);
      assert.equal(echoB.connections(), before, 'the endpoint was never reached');
    },
  );

  test('config reload adds and removes tcp listeners without touching the others', async () => {
    const a = fabric.gateway('a');
    const kept = a.tcpPort('db.default');
    await a.dataPlane.updateConfig(
      configWithTcp([
        { listen: `${a.host}:${kept}`, service: 'db.default' },
        { listen: `${a.host}:0`, service: 'cache.default' },
      ]),
    );
    const services = a.dataPlane.ports.tcp.map((t) => t.service).sort();
    assert.deepEqual(services, ['cache.default', 'db.default']);
    assert.equal(a.tcpPort('db.default'), kept);
    const payload = patternBytes(10_000);
    assert.ok((await tcpRoundTrip(a.host, a.tcpPort('cache.default'), payload)).equals(payload));
    assert.ok((await tcpRoundTrip(a.host, kept, payload)).equals(payload));
  });

  test('a reload whose new tcp port is taken is rejected whole: the old listeners listen again', async () => {
    const a = fabric.gateway('a');
    const before = a.dataPlane.ports.tcp.map((t) => `${t.service}@${t.port}`).sort();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, a.host, resolve));
    const takenPort = (taken.address() as AddressInfo).port;
    try {
      // db.default moves to a new port (its old one stops first), then the taken port fails.
      const next = configWithTcp([
        { listen: `${a.host}:0`, service: 'db.default' },
        { listen: `${a.host}:${takenPort}`, service: 'cache.default' },
      ]);
      await assert.rejects(a.dataPlane.updateConfig(next), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'LISTEN_FAILED');
        assert.match(err.message, new RegExp(`${takenPort}`));
        return true;
      });
    } finally {
      taken.close();
    }
    assert.deepEqual(a.dataPlane.ports.tcp.map((t) => `${t.service}@${t.port}`).sort(), before);
    const payload = patternBytes(10_000);
    for (const port of a.dataPlane.ports.tcp.filter((t) => t.service !== 'nothing.default')) {
      assert.ok((await tcpRoundTrip(a.host, port.port, payload)).equals(payload), port.service);
    }
  });
});
