// A WebSocket upgrade still waiting for its endpoint's answer when a draining gateway reaches its
// deadline: the wait ends with the stream, so the gateway exits at the deadline. It used to keep the
// endpoint's socket and its 15 s answer timer, and so the process, alive past the deadline.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { callerAndServer, FailoverFabric } from './helpers/failover-fabric.js';
import { waitFor } from './helpers/wait.js';

const HOST_A = '127.0.96.1';
const HOST_B = '127.0.96.2';
let fabric: FailoverFabric;
/** Accepts upgrades and never answers them. */
let silent: Server;
const accepted: Socket[] = [];

before(async () => {
  silent = createServer((socket) => {
    accepted.push(socket);
    socket.resume();
  });
  silent.listen(0, HOST_B);
  await once(silent, 'listening');
  const endpoint = `${HOST_B}:${(silent.address() as { port: number }).port}`;
  fabric = await FailoverFabric.start(callerAndServer(HOST_A, HOST_B, 'silent', endpoint), {});
});

after(async () => {
  await fabric?.close();
  for (const socket of accepted) socket.destroy();
  silent?.close();
});

test('a draining gateway exits at its deadline though an upgrade still waits for its answer', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const ws = new WebSocket(`ws://${host}:${port}/`, { headers: { host: 'silent' } });
  ws.on('error', () => undefined);
  await waitFor('the upgrade to reach the silent endpoint in b', () => accepted.length > 0, 15_000);
  const started = performance.now();
  await fabric.gateway('b').process.stop();
  const exitedMs = performance.now() - started;
  console.log(`b exited ${Math.round(exitedMs)} ms after SIGTERM (drainTimeout 1s)`);
  assert.ok(exitedMs < 8_000, `b exited after ${Math.round(exitedMs)} ms`);
  ws.terminate();
});
