// Connection pools to local endpoints follow the catalog without walking it at every change: an endpoint
// a registration takes away loses its pool, one still in the catalog keeps its pool, and a change that
// takes no endpoint with a pool away leaves the pools as they are.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

let fabric: TestFabric;
let first: HttpUpstream;
let second: HttpUpstream;

before(async () => {
  first = await startHttpUpstream('127.0.101.2', 'first');
  second = await startHttpUpstream('127.0.101.3', 'second');
  fabric = await TestFabric.start([
    {
      cluster: 'a',
      host: '127.0.101.1',
      services: [
        { name: 'hello', endpoints: [first.endpoint] },
        { name: 'other', endpoints: ['127.0.101.4:1'] },
      ],
    },
  ]);
});

after(async () => {
  await fabric?.close();
  await first?.close();
  await second?.close();
});

const pools = () =>
  fabric
    .gateway('a')
    .dataPlane.state()
    .upstreamPools.map((p) => p.endpoint)
    .sort();

test('a deregistered endpoint loses its pool; the others keep theirs', async () => {
  const a = fabric.gateway('a');
  const [host, port] = second.endpoint.split(':');
  const id = a.catalog.register('test', {
    name: 'hello',
    namespace: 'default',
    protocol: 'http',
    endpoints: [{ host: host as string, port: Number(port), weight: 1 }],
  });
  const routed = () => a.dataPlane.state().routes.find((r) => r.service === 'hello.default')?.local.length;
  // A rebuild comes on the next turn, or later when the one before took long (pacing).
  await waitFor('the registered endpoint in the route', () => routed() === 2, 5_000);
  const servedBy = new Set<string>();
  for (let i = 0; i < 40 && servedBy.size < 2; i++) {
    const answer = await httpCall(`${a.outboundUrl}/whoami`, { headers: { host: 'hello' } });
    servedBy.add((JSON.parse(answer.body.toString()) as { servedBy: string }).servedBy);
  }
  assert.deepEqual([...servedBy].sort(), ['first', 'second']);
  assert.deepEqual(pools(), [first.endpoint, second.endpoint].sort());

  const built = a.dataPlane.routesBuilt;
  const unrelated = a.catalog.register('test', {
    name: 'other',
    namespace: 'default',
    protocol: 'http',
    endpoints: [{ host: '127.0.101.4', port: 2, weight: 1 }],
  });
  a.catalog.deregister(unrelated);
  await waitFor('a rebuild', () => a.dataPlane.routesBuilt > built, 5_000);
  assert.deepEqual(pools(), [first.endpoint, second.endpoint].sort(), 'no endpoint with a pool left');

  a.catalog.deregister(id);
  await waitFor('the registered endpoint out of the route', () => routed() === 1, 5_000);
  assert.deepEqual(pools(), [first.endpoint], "the deregistered endpoint's pool is closed");
});
