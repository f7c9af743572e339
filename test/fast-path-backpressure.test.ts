// The HTTP/1.1 fast path honours a caller that stops reading: pipelined requests are answered only as
// fast as the caller takes the answers, so the gateway's write buffer stays bounded (it grew by every
// answer before: 81 MB in 3 s for 8 KiB answers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

const ANSWER_BYTES = 32 * 1024;
const REQUESTS = 3000;

let fabric: TestFabric;
let upstream: HttpUpstream;

before(async () => {
  upstream = await startHttpUpstream('127.0.1.61', 'big@a');
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.1.60', services: [{ name: 'big', endpoints: [upstream.endpoint] }] },
  ]);
});

after(async () => {
  await fabric?.close();
  await upstream?.close();
});

test('a caller that pipelines requests and reads nothing gets no more answers than the sockets hold', async (t) => {
  const a = fabric.gateway('a');
  const caller = connect({ host: a.host, port: a.outboundPort });
  t.after(() => caller.destroy());
  caller.on('error', () => undefined);
  await once(caller, 'connect');
  caller.pause();
  const request = `GET /bytes?n=${ANSWER_BYTES} HTTP/1.1\r\nHost: big\r\n\r\n`;
  caller.write(request.repeat(REQUESTS));
  // The answers stop once the socket buffers are full: the count stays put for half a second.
  let last = -1;
  let still = 0;
  await waitFor(
    'the answered count to settle',
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = upstream.seen.length;
      still = now === last ? still + 1 : 0;
      last = now;
      return still >= 5;
    },
    30_000,
  );
  console.log(`answered ${last} of ${REQUESTS} pipelined requests of a caller that reads nothing`);
  assert.ok(last < REQUESTS / 2, `answered ${last}: the answers pile up in the gateway`);

  // Reading again, the caller gets every answer, in order.
  let received = 0;
  caller.on('data', (chunk: Buffer) => (received += chunk.length));
  caller.resume();
  await waitFor(
    'every answer',
    () => upstream.seen.length === REQUESTS && received >= REQUESTS * ANSWER_BYTES,
    60_000,
  );
});
