// What one HTTP/2 caller connection can hold at once is bounded: the outbound listener allows 100
// concurrent streams per connection (HAProxy's default), so a caller that opens more waits for a slot
// instead of pinning an endpoint connection and a stream window of buffered answer for each one.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { waitFor } from './helpers/wait.js';

const CALLER_STREAMS = 150;
const STREAM_LIMIT = 100;

/** Holds every request until released; counts the most it held at once. */
const held: ServerResponse[] = [];
let mostHeld = 0;
const endpoint = createServer((_req, res) => {
  held.push(res);
  mostHeld = Math.max(mostHeld, held.length);
});

function releaseAll(): void {
  for (const res of held.splice(0)) res.end('ok');
}

let fabric: TestFabric;

before(async () => {
  endpoint.listen(0, '127.0.1.42');
  await once(endpoint, 'listening');
  const { port } = endpoint.address() as AddressInfo;
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.1.1', services: [{ name: 'held', endpoints: [`127.0.1.42:${port}`] }] },
  ]);
});

after(async () => {
  releaseAll();
  await fabric?.close();
  endpoint.closeAllConnections();
  endpoint.close();
});

test(
  `one HTTP/2 caller connection has at most ${STREAM_LIMIT} streams in flight; the rest wait`,
  { timeout: 30_000 },
  async () => {
    const a = fabric.gateway('a');
    const session = http2.connect(`http://${a.host}:${a.outboundPort}`);
    try {
      await once(session, 'remoteSettings');
      assert.equal(session.remoteSettings.maxConcurrentStreams, STREAM_LIMIT);
      const answers = Array.from({ length: CALLER_STREAMS }, () => {
        const stream = session.request({ ':path': '/', ':authority': 'held' });
        stream.resume();
        return new Promise<number>((resolve, reject) => {
          stream.once('response', (headers) => resolve(Number(headers[':status'])));
          stream.once('error', reject);
        });
      });
      await waitFor('the endpoint to hold the first streams', () => held.length >= STREAM_LIMIT, 15_000);
      // The other streams were sent with the first: given a slot, they would have reached the endpoint by now.
      await new Promise((resolve) => setTimeout(resolve, 500));
      console.log(`the endpoint held ${held.length} of ${CALLER_STREAMS} requests sent at once`);
      assert.equal(held.length, STREAM_LIMIT);
      const released = setInterval(releaseAll, 20);
      try {
        const statuses = await Promise.all(answers);
        assert.deepEqual(new Set(statuses), new Set([200]));
      } finally {
        clearInterval(released);
      }
      assert.equal(mostHeld, STREAM_LIMIT);
    } finally {
      session.destroy();
    }
  },
);
