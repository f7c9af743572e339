// A probe's PING on a connection the peer retires gracefully is not a failed probe. The peer sends GOAWAY
// and answers no PING on the closing connection (as Node does): whether the connection then closes (no
// streams left) or stays for the streams still open on it, the ping is asked again on another connection
// and answered there. Without that, every trust change or drain at a peer could mark it unresponsive.
// The peer is a raw HTTP/2 server over TLS with a real gateway certificate, so it can leave a PING
// unanswered on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { GatewayError } from '../gateway/errors.js';
import type { H2Connection } from '../gateway/transport/h2-connection.js';
import { PeerTransport } from '../gateway/transport/peer-transport.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { ACK_FLAG, CLIENT_PREFACE, frame, FRAME } from './helpers/h2-frames.js';

const TD = 'acme.test';
const { HEADERS, SETTINGS, PING, GOAWAY } = FRAME;

/**
 * An HTTP/2 peer whose first connection answers a PING with GOAWAY (NO_ERROR) and no PING ACK, then
 * closes (`close`) or stays open (`linger`); later connections answer PINGs.
 */
async function startRetiringPeer(tls: { ca: Buffer; cert: Buffer; key: Buffer }, first: 'close' | 'linger') {
  let connections = 0;
  let onStream: () => void = () => undefined;
  const streamSeen = new Promise<void>((resolve) => (onStream = resolve));
  const sockets = new Set<TLSSocket>();
  const server = createServer({ ...tls, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' }, (socket) => {
    const index = connections++;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => sockets.delete(socket));
    socket.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    let lastStream = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!prefaceSeen) {
        if (pending.length < CLIENT_PREFACE.length) return;
        pending = pending.subarray(CLIENT_PREFACE.length);
        prefaceSeen = true;
      }
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) return;
        const [type, flags, streamId] = [pending.readUInt8(3), pending.readUInt8(4), pending.readUInt32BE(5)];
        const payload = pending.subarray(9, 9 + length);
        pending = pending.subarray(9 + length);
        if (type === HEADERS) {
          lastStream = Math.max(lastStream, streamId);
          onStream();
        }
        if (type === SETTINGS && !(flags & ACK_FLAG))
          socket.write(frame(SETTINGS, ACK_FLAG, 0, Buffer.alloc(0)));
        if (type !== PING || flags & ACK_FLAG) continue;
        if (index > 0) {
          socket.write(frame(PING, ACK_FLAG, 0, payload));
          continue;
        }
        // The streams open so far count as processed: they keep a lingering connection open.
        const goaway = Buffer.alloc(8);
        goaway.writeUInt32BE(lastStream, 0);
        socket.write(frame(GOAWAY, 0, 0, goaway));
        if (first === 'close') socket.end();
      }
    });
  });
  server.listen(0, '127.0.31.1');
  await once(server, 'listening');
  return {
    address: `127.0.31.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    /** Resolves once a stream was opened. */
    streamSeen,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

for (const first of ['close', 'linger'] as const) {
  test(`a PING left unanswered by a GOAWAY (the connection ${first === 'close' ? 'closes' : 'stays for its streams'}) is asked again on a new connection`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-ping-goaway-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pki = await createFabricPki(dir, { trustDomain: TD, clusters: ['a', 'b'] });
    const load = async (cluster: string) => {
      const paths = pki.pathsOf(cluster);
      const [ca, cert, key] = await Promise.all([paths.ca, paths.cert, paths.key].map((p) => readFile(p)));
      return { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer };
    };
    const peer = await startRetiringPeer(await load('b'), first);
    t.after(() => peer.close());
    const transport = new PeerTransport({ trustDomain: TD, tls: await load('a') });
    t.after(() => transport.destroy());
    const gateway = transport.gateway('b', 'gw-1', peer.address);
    if (first === 'linger') {
      // A stream the peer never answers keeps the retired connection open after its GOAWAY.
      const connection = await new Promise<H2Connection | GatewayError>((resolve) =>
        gateway.pool.acquireReady(resolve),
      );
      if (connection instanceof GatewayError) throw connection;
      const stream = connection.request({ ':method': 'GET', ':path': '/held', ':authority': 'b' }, true);
      if (stream instanceof GatewayError) throw stream;
      stream.on('error', () => undefined);
      await peer.streamSeen;
    }
    const rttMs = await transport.ping(gateway.key, AbortSignal.timeout(5_000));
    assert.equal(typeof rttMs, 'number');
    assert.equal(peer.connections(), 2, 'answered on a second connection');
  });
}
