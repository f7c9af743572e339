// A failed try looks for where a retry would go before the retry is decided; that look must not move the
// balancer. It did: with an endpoint that always fails and one that works, every first try after a
// failure went to the failing one (6 of 6 instead of 3), doubling its share of requests, its failures
// for calls that are not retried, and the retry budget spent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { httpCall } from './helpers/http-call.js';

let fabric: TestFabric;
const servers: Server[] = [];
const hits = { bad: 0, good: 0 };

async function endpoint(host: string, name: 'bad' | 'good'): Promise<string> {
  const server = createServer((_req, res) => {
    hits[name]++;
    res.writeHead(name === 'bad' ? 503 : 200).end(name);
  });
  servers.push(server);
  server.listen(0, host);
  await once(server, 'listening');
  return `${host}:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  const endpoints = [await endpoint('127.0.1.110', 'bad'), await endpoint('127.0.1.111', 'good')];
  fabric = await TestFabric.start([
    {
      cluster: 'a',
      host: '127.0.1.1',
      services: [{ name: 'pair', endpoints }],
      // No retries: each request is one try, so the balancer alone decides where it goes.
      failover: { retries: { attempts: 0 } },
    },
  ]);
});

after(async () => {
  await fabric?.close();
  for (const server of servers) server.close();
});

test('requests alternate between two endpoints although one of them fails every time', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    statuses.push(
      (await httpCall(`${fabric.gateway('a').outboundUrl}/`, { headers: { host: 'pair' } })).status,
    );
  }
  assert.deepEqual(hits, { bad: 3, good: 3 }, `statuses ${statuses.join(' ')}`);
});
