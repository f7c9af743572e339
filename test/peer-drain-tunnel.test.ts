// A long-lived tunnel through a peer that drains: a WebSocket from cluster a to `chat`, served only in
// cluster b, while b's gateway drains after SIGTERM with a long deadline. b refuses new connections, so
// a's probes of b fail and a stops sending b new requests; but b is alive and finishing what it has, so
// the open WebSocket keeps working until b closes it. (a used to drop every connection to b as soon as
// two probes failed, cutting the tunnel half a second into b's drain.) A peer that freezes instead is
// still cut off at once: test/health-peer.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { callerAndServer, FailoverFabric } from './helpers/failover-fabric.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

const HOST_A = '127.0.95.1';
const HOST_B = '127.0.95.2';
let fabric: FailoverFabric;
let chat: HttpUpstream;

before(async () => {
  chat = await startHttpUpstream(HOST_B, 'b');
  fabric = await FailoverFabric.start(callerAndServer(HOST_A, HOST_B, 'chat', chat.endpoint), {});
});

after(async () => {
  await fabric?.close();
  await chat?.close();
});

/** Message `text` on `ws`, answered by the echo (which prefixes who served it). */
async function echo(ws: WebSocket, text: string): Promise<string> {
  const answer = once(ws, 'message', { signal: AbortSignal.timeout(5_000) });
  ws.send(text);
  const [data] = (await answer) as [Buffer];
  return data.toString();
}

test('a WebSocket through a draining peer keeps working after the probes fail', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  await fabric.reconfigure('b', (config) => (config.drainTimeout = '120s'));
  const ws = new WebSocket(`ws://${host}:${port}/`, { headers: { host: 'chat' } });
  await once(ws, 'open');
  assert.equal(await echo(ws, 'hi'), 'b:a:hi');

  fabric.gateway('b').process.signal('SIGTERM');
  // The probes' verdict (two failed in a row): what a did about b's connections, it did at once.
  await waitFor(
    "b marked down by a's probes (it refuses new connections while it drains)",
    async () => (await fabric.metric('a', 'weft_peer_gateway_up', { cluster: 'b' })) === 0,
    20_000,
  );
  assert.equal(await echo(ws, 'still'), 'b:a:still', 'the tunnel still carries messages');
  ws.close();
});
