// HTTP/1.1 requests a caller pipelines on one connection (each sent before the answer to the one before)
// reach their service one at a time, in the order sent, and the answers come back in that order — also
// on Node's parser path (requests with bodies), where every parsed request used to be proxied at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { listenOnLoopback } from './helpers/listen-address.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.95.1';
let fabric: TestFabric;
let endpoint: Server;
/** Requests the endpoint is answering now, and the most it answered at once. */
let inProgress = 0;
let mostAtOnce = 0;
const order: string[] = [];

before(async () => {
  // Answers each request 50 ms after its body has arrived, echoing its method, path and body.
  endpoint = createServer((req, res) => {
    inProgress++;
    mostAtOnce = Math.max(mostAtOnce, inProgress);
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      order.push(`${req.method} ${req.url}`);
      setTimeout(() => {
        inProgress--;
        res.end(`${req.method} ${req.url} ${body}`);
      }, 50);
    });
  });
  fabric = await TestFabric.start([
    {
      cluster: 'a',
      host: HOST,
      services: [{ name: 'orders', endpoints: [await listenOnLoopback(endpoint, HOST)] }],
    },
  ]);
});

after(async () => {
  await fabric?.close();
  endpoint?.closeAllConnections();
  endpoint?.close();
});

test('pipelined requests with bodies reach the endpoint one at a time, in order; answers come back in order', async (t) => {
  const a = fabric.gateway('a');
  const caller = connect({ host: a.host, port: a.outboundPort });
  t.after(() => caller.destroy());
  let received = '';
  caller.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const request = (method: string, path: string, body: string) =>
    `${method} ${path} HTTP/1.1\r\nHost: orders\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  caller.write(
    request('PUT', '/order/1', 'created') +
      request('POST', '/order/1/items', 'item') +
      request('DELETE', '/order/1', '-') +
      request('GET', '/order/1', ''),
  );
  await waitFor('four answers', () => (received.match(/HTTP\/1\.1 200/g) ?? []).length === 4, 10_000);
  const bodies = received.split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).filter(Boolean);
  assert.deepEqual(bodies, [
    'PUT /order/1 created',
    'POST /order/1/items item',
    'DELETE /order/1 -',
    'GET /order/1 ',
  ]);
  assert.deepEqual(order, ['PUT /order/1', 'POST /order/1/items', 'DELETE /order/1', 'GET /order/1']);
  assert.equal(mostAtOnce, 1, 'the endpoint answered one request at a time');
});
