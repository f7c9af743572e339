// The peer listener on its own, over real mutual TLS: destroy() (the end of a drain) closes every
// connection it accepted, also an HTTP/2 connection whose caller froze after drain() sent GOAWAY (Node
// only ends such a socket and waits for the caller's FIN) and a connection still before its handshake.
import { test } from 'node:test';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { Registry } from 'prom-client';
import { PeerListener } from '../gateway/listeners/peer-listener.js';
import { RequestMetrics } from '../gateway/listeners/request-metrics.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.75.1';
/** The client connection preface and an empty SETTINGS frame (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

test('destroy() closes a frozen caller’s HTTP/2 connection after drain(), and one still before its handshake', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-peer-listener-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createFabricPki(dir, { trustDomain: 'listener.test', clusters: ['a', 'b'] });
  const load = async (cluster: string) => {
    const paths = pki.pathsOf(cluster);
    return { ca: await readFile(paths.ca), cert: await readFile(paths.cert), key: await readFile(paths.key) };
  };
  const listener = new PeerListener({
    address: { host: HOST, port: 0 },
    trustDomain: 'listener.test',
    tls: await load('b'),
    metrics: new RequestMetrics(new Registry(), () => new Map()),
    onStream: (stream) => stream.close(),
    onTunnel: (socket) => socket.destroy(),
    onRefused: () => undefined,
    onAcceptError: () => undefined,
  });
  await listener.start();
  t.after(() => listener.destroy());

  // A calling gateway that says hello over HTTP/2, then freezes: it reads nothing and never closes.
  const frozen = connectTls({
    ...(await load('a')),
    host: HOST,
    port: listener.port,
    servername: 'gw.b.listener.test',
    checkServerIdentity: () => undefined,
    ALPNProtocols: ['h2'],
  });
  await once(frozen, 'secureConnect');
  frozen.write(H2_PREFACE);
  await waitFor('the HTTP/2 session', () => listener.openConnections === 1, 5_000);
  frozen.pause();
  // And a connection that never starts its handshake.
  const silent = connectTcp({ host: HOST, port: listener.port });
  await once(silent, 'connect');

  silent.on('error', () => undefined);
  frozen.on('error', () => undefined);
  listener.drain();
  listener.destroy();
  await waitFor('the session to close', () => listener.openConnections === 0, 5_000);
  await waitFor('the connection before its handshake to close', () => silent.closed, 5_000);
});
