// The opaque TCP tunnel's handshake over real mutual TLS, on both ends: bytes that arrive in the same
// read as the answer line (or the request line) are handed on with the socket, not swallowed by the
// line reader; a peer that closes its side without answering fails the dial at once, not at the
// connect timeout; an address that closes before the TLS handshake fails the dial without a late throw.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createNetServer } from 'node:net';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { GatewayError } from '../gateway/errors.js';
import { dialOpaqueTunnel, OPAQUE_TCP_ALPN, readTunnelRequest } from '../gateway/transport/opaque-tunnel.js';
import { twoGatewaysTls, type GatewayTlsBuffers } from './helpers/fabric-pki.js';

const HOST = '127.0.74.1';
const TIMEOUT_MS = 10_000;
let caller: GatewayTlsBuffers;
let peer: GatewayTlsBuffers;

before(async () => {
  ({ a: caller, b: peer } = await twoGatewaysTls('opaque.test'));
});

/** A peer on `HOST` that runs `onTunnel` for each tunnel connection, once its TLS handshake is done. */
async function startPeer(onTunnel: (socket: TLSSocket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(
    {
      ...peer,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [OPAQUE_TCP_ALPN],
      allowHalfOpen: true,
    },
    onTunnel,
  );
  server.listen(0, HOST);
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

function dial(port: number): Promise<TLSSocket | GatewayError> {
  return new Promise((resolve) => {
    dialOpaqueTunnel(
      {
        host: HOST,
        port,
        tls: { ...caller, servername: 'gw.b.opaque.test', checkServerIdentity: () => undefined },
        service: 'db.default',
        timeoutMs: TIMEOUT_MS,
        describe: 'peer gateway b',
        classify: (err) => new GatewayError('UPSTREAM_CONNECT', err.message),
      },
      resolve,
    );
  });
}

/** The first `bytes` bytes read from `socket` (which may be paused). */
async function firstBytes(socket: TLSSocket, bytes: number): Promise<string> {
  let got = '';
  socket.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')));
  socket.resume();
  const deadline = Date.now() + 5_000;
  while (got.length < bytes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return got;
}

test('bytes in the same read as the OK line reach the tunnel, and the request line’s trailing bytes the peer', async (t) => {
  let peerHeard: Promise<string> | undefined;
  const { server, port } = await startPeer((socket) => {
    readTunnelRequest(socket, TIMEOUT_MS, (service) => {
      assert.equal(service, 'db.default');
      peerHeard = firstBytes(socket, 'caller first'.length);
      // The answer and the first tunnelled bytes in one write: one TLS record, one read at the caller.
      socket.write('OK\r\nserver speaks first');
    });
  });
  t.after(() => server.close());
  const tunnel = await dial(port);
  if (tunnel instanceof GatewayError) assert.fail(tunnel.message);
  t.after(() => tunnel.destroy());
  assert.equal(await firstBytes(tunnel, 'server speaks first'.length), 'server speaks first');
  tunnel.write('caller first');
  assert.equal(await peerHeard, 'caller first');
});

test('the request line and the first tunnelled bytes in one read: the peer gets both apart', async (t) => {
  const heard: string[] = [];
  const { server, port } = await startPeer((socket) => {
    readTunnelRequest(socket, TIMEOUT_MS, (service) => {
      heard.push(String(service));
      void firstBytes(socket, 'payload'.length).then((bytes) => heard.push(bytes));
    });
  });
  t.after(() => server.close());
  const socket = connect({
    ...caller,
    host: HOST,
    port,
    servername: 'gw.b.opaque.test',
    ALPNProtocols: [OPAQUE_TCP_ALPN],
    checkServerIdentity: () => undefined,
  });
  t.after(() => socket.destroy());
  await once(socket, 'secureConnect');
  socket.write('weft-tcp/1 db.default\r\npayload');
  const deadline = Date.now() + 5_000;
  while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(heard, ['db.default', 'payload']);
});

test('a peer that closes its side without answering fails the dial at once', async (t) => {
  const { server, port } = await startPeer((socket) => {
    socket.once('data', () => socket.end());
  });
  t.after(() => server.close());
  const started = performance.now();
  const result = await dial(port);
  const elapsed = performance.now() - started;
  assert.ok(result instanceof GatewayError, 'the dial failed');
  assert.match(result.message, /closed the tunnel before answering/);
  assert.ok(elapsed < TIMEOUT_MS / 2, `failed after ${Math.round(elapsed)} ms (timeout ${TIMEOUT_MS} ms)`);
});

test('an address that closes the connection before the TLS handshake fails the dial, and nothing throws later', async (t) => {
  // What a TCP proxy with no backend, or a peer out of file descriptors, does: accept, then close.
  const closer = createNetServer((socket) => socket.end());
  closer.listen(0, HOST);
  await once(closer, 'listening');
  t.after(() => closer.close());
  const result = await dial((closer.address() as { port: number }).port);
  assert.ok(result instanceof GatewayError, 'the dial failed');
  // Node reports the handshake failure as an 'error' a tick after the end the dial settled on: it
  // must find a listener, or it kills the process.
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
});
