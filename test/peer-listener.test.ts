// The peer listener on its own, over real mutual TLS: destroy() (the end of a drain) closes every
// connection it accepted, also an HTTP/2 connection whose caller froze after drain() sent GOAWAY (Node
// only ends such a socket and waits for the caller's FIN) and a connection still before its handshake;
// a caller that stops answering PINGs loses its connection, a live one keeps it; a handshake that does
// not complete in time is cut, silent or trickling.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectH2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { Registry } from 'prom-client';
import { PeerListener } from '../gateway/listeners/peer-listener.js';
import { RequestMetrics } from '../gateway/listeners/request-metrics.js';
import { twoGatewaysTls, type GatewayTlsBuffers } from './helpers/fabric-pki.js';
import { BIG_WINDOWS, GET_ON_STREAM_1, H2_PREFACE } from './helpers/h2-frames.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.75.1';

interface Setup {
  readonly listener: PeerListener;
  /** Callers whose connection was closed for an unanswered PING. */
  readonly lost: string[];
  /** TLS material of a gateway of cluster `a` (the caller). */
  readonly callerTls: GatewayTlsBuffers;
}

/** A listener of cluster b's gateway, with short liveness and handshake limits when asked. */
async function startListener(
  t: TestContext,
  limits: { pingIntervalMs?: number; handshakeTimeoutMs?: number } = {},
): Promise<Setup> {
  const tls = await twoGatewaysTls('listener.test');
  const lost: string[] = [];
  const listener = new PeerListener({
    address: { host: HOST, port: 0 },
    trustDomain: 'listener.test',
    tls: tls.b,
    metrics: new RequestMetrics(new Registry(), () => new Map()),
    // A GET answers with 32 MiB, more than the socket buffers hold; anything else is closed.
    onStream: (stream, headers) => {
      if (headers[':method'] !== 'GET') return stream.close();
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(32 << 20));
    },
    onTunnel: (socket) => socket.destroy(),
    onRefused: () => undefined,
    onCallerLost: (caller) => lost.push(caller),
    onAcceptError: () => undefined,
    ...limits,
  });
  await listener.start();
  t.after(() => listener.destroy());
  return { listener, lost, callerTls: tls.a };
}

/** A calling gateway that says hello over HTTP/2 (preface and SETTINGS, then `then`), and reads nothing more. */
async function frozenCaller(setup: Setup, then?: Buffer) {
  const frozen = connectTls({
    ...setup.callerTls,
    host: HOST,
    port: setup.listener.port,
    servername: 'gw.b.listener.test',
    checkServerIdentity: () => undefined,
    ALPNProtocols: ['h2'],
  });
  frozen.on('error', () => undefined);
  const before = setup.listener.openConnections;
  await once(frozen, 'secureConnect');
  frozen.write(H2_PREFACE);
  if (then) frozen.write(then);
  await waitFor('the HTTP/2 session', () => setup.listener.openConnections === before + 1, 5_000);
  frozen.pause();
  return frozen;
}

test('destroy() closes a frozen caller’s HTTP/2 connection after drain(), and one still before its handshake', async (t) => {
  const setup = await startListener(t);
  const { listener } = setup;
  await frozenCaller(setup);
  // And a connection that never starts its handshake.
  const silent = connectTcp({ host: HOST, port: listener.port });
  await once(silent, 'connect');

  silent.on('error', () => undefined);
  listener.drain();
  listener.destroy();
  await waitFor('the session to close', () => listener.openConnections === 0, 5_000);
  await waitFor('the connection before its handshake to close', () => silent.closed, 5_000);
});

test('a caller that stops answering PINGs loses its connection; a live caller keeps its own', async (t) => {
  const setup = await startListener(t, { pingIntervalMs: 200 });
  const live = connectH2(`https://${HOST}:${setup.listener.port}`, {
    ...setup.callerTls,
    servername: 'gw.b.listener.test',
    checkServerIdentity: () => undefined,
  });
  t.after(() => live.destroy());
  await once(live, 'connect');
  await waitFor('the live session', () => setup.listener.openConnections === 1, 5_000);

  const started = performance.now();
  await frozenCaller(setup);
  await waitFor('the frozen caller’s connection to close', () => setup.listener.openConnections === 1, 5_000);
  const ms = performance.now() - started;
  console.log(`frozen caller closed after ${ms.toFixed(0)} ms (PING interval 200 ms)`);
  assert.ok(ms < 2_000, `closed within a few intervals, took ${ms.toFixed(0)} ms`);
  assert.deepEqual(setup.lost, ['a']);

  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(live.destroyed, false, 'a caller that answers PINGs keeps its connection');
  assert.equal(setup.listener.openConnections, 1);
  assert.deepEqual(setup.lost, ['a']);
});

test('a connection that does not complete its TLS handshake in time is cut, however it trickles bytes', async (t) => {
  const { listener } = await startListener(t, { handshakeTimeoutMs: 300 });
  const started = performance.now();
  const silent = connectTcp({ host: HOST, port: listener.port });
  const trickling = connectTcp({ host: HOST, port: listener.port });
  for (const socket of [silent, trickling]) {
    socket.on('error', () => undefined);
    socket.resume();
  }
  await Promise.all([once(silent, 'connect'), once(trickling, 'connect')]);
  // A TLS record header, one byte every 50 ms: the handshake never ends, and the bytes (which never
  // reach the TLS socket as cleartext) do not restart Node's handshake timer.
  const header = Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00]);
  let sent = 0;
  const drip = setInterval(() => {
    if (!trickling.destroyed)
      trickling.write(header.subarray(sent % header.length, (sent++ % header.length) + 1));
  }, 50);
  t.after(() => clearInterval(drip));
  await waitFor('the silent connection to be closed', () => silent.closed, 5_000);
  await waitFor('the trickling connection to be closed', () => trickling.closed, 5_000);
  const ms = performance.now() - started;
  console.log(`handshake timeout 300 ms: both cut after ${ms.toFixed(0)} ms`);
  assert.ok(ms < 2_000, `cut at the deadline, took ${ms.toFixed(0)} ms`);
});

test('a caller that froze with an answer still queued to it loses its connection too', async (t) => {
  const setup = await startListener(t, { pingIntervalMs: 200 });
  await frozenCaller(setup, Buffer.concat([BIG_WINDOWS, GET_ON_STREAM_1]));
  await waitFor('the frozen caller’s connection to close', () => setup.listener.openConnections === 0, 5_000);
  assert.deepEqual(setup.lost, ['a']);
});
