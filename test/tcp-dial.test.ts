// dialUpgrade against real sockets: an endpoint that accepts the connection but never answers the
// upgrade gets UPSTREAM_TIMEOUT after the answer timeout (it held the caller forever before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { GatewayError } from '../gateway/errors.js';
import { dialUpgrade, upgradeRequestHead } from '../gateway/upstream/tcp-dial.js';
import { newHeaderMap } from '../gateway/upstream/exchange.js';

test('an upgrade the endpoint never answers fails with UPSTREAM_TIMEOUT and closes its socket', async (t) => {
  const held: Socket[] = [];
  const server = createServer((socket) => {
    held.push(socket);
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of held) socket.destroy();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const head = upgradeRequestHead('GET', '/chat', 'svc', 'websocket', newHeaderMap());
  const started = Date.now();
  const result = await new Promise<unknown>((resolve) =>
    dialUpgrade({ host: '127.0.0.1', port, weight: 1 }, head, { connectMs: 2_000, answerMs: 300 }, resolve),
  );
  const waited = Date.now() - started;
  assert.ok(result instanceof GatewayError);
  assert.equal(result.code, 'UPSTREAM_TIMEOUT');
  assert.match(result.message, /did not answer the upgrade within 300 ms/);
  assert.ok(waited >= 250 && waited < 5_000, `answered after ${waited} ms`);
  const [socket] = held;
  assert.ok(socket);
  if (!socket.closed) await once(socket, 'close');
});
