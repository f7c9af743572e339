// Route-table rebuilds asked for by changes: changes that come together (a catalog change and the
// republished view, a health change and its republish) get one rebuild, made before the gateway reads its
// next request, and a rebuild redoes only the routes of the services a change touches. Which local routes
// were rebuilt shows through `endpointHealthy`, which building a route asks once per local endpoint.
import { setImmediate as turn } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView, ServiceExport } from '../discovery/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { waitFor } from './helpers/wait.js';
import { httpCall } from './helpers/http-call.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';

let fabric: TestFabric;
let upstream: HttpUpstream;
const asked: string[] = [];
let healthy = true;

before(async () => {
  upstream = await startHttpUpstream('127.0.54.2', 'hello@a');
  const services = [
    { name: 'hello', endpoints: [upstream.endpoint] },
    { name: 'one', endpoints: ['127.0.54.3:1'] },
    { name: 'two', endpoints: ['127.0.54.3:2'] },
  ];
  fabric = await TestFabric.start(
    [
      { cluster: 'a', host: '127.0.54.1', services },
      { cluster: 'b', host: '127.0.55.1', services: services.slice(1) },
    ],
    {
      endpointHealthy: (service) => {
        asked.push(service);
        return healthy;
      },
    },
  );
});

after(async () => {
  await fabric?.close();
  await upstream?.close();
});

const a = () => fabric.gateway('a').dataPlane;

/** The services whose local routes gateway a rebuilt while `change` ran and the turn after it. */
async function rebuiltBy(change: () => void): Promise<string[]> {
  await turn();
  asked.length = 0;
  change();
  await turn();
  return [...new Set(asked)].sort();
}

/** Publishes the current views again, with cluster b's export of `key` replaced by `change` of it. */
function republishWith(key?: string, change: Partial<ServiceExport> = {}): void {
  const clusters: ClusterView[] = [...fabric.view.snapshot().clusters.values()].map((view) => {
    if (view.name !== 'b' || key === undefined) return view;
    const services = new Map(view.services);
    const exported = services.get(key);
    if (exported) services.set(key, { ...exported, ...change });
    return { ...view, services };
  });
  fabric.view.publish(clusters);
}

test('ten changes in one turn make one rebuild, done before the next request is read', async () => {
  // Unpaced: a rebuild that took 5 ms or more delays the next by as long, and the start's first ones may
  // (longer on a busy machine). Until a requested rebuild comes in the same turn, the pacing still holds.
  await waitFor(
    'a rebuild that is not paced',
    async () => {
      const built = a().routesBuilt;
      a().requestRefresh([]);
      await turn();
      return a().routesBuilt === built + 1;
    },
    5_000,
  );
  const before = a().routesBuilt;
  healthy = false;
  try {
    for (let i = 0; i < 10; i++) {
      republishWith();
      a().requestRefresh(['hello.default']);
    }
    assert.equal(a().routesBuilt, before, 'no rebuild inside the turn that made the changes');
    const answer = await httpCall(`${fabric.gateway('a').outboundUrl}/`, { headers: { host: 'hello' } });
    assert.equal(answer.status, 503, 'the rebuild (the endpoint now unhealthy) came before the request');
    assert.equal(a().routesBuilt - before, 1, 'one rebuild for twenty changes');
  } finally {
    healthy = true;
    a().refreshRoutes();
  }
});

test('a change in the fabric view rebuilds the routes of the services it touches, and only those', async () => {
  // b's first probe answer changes its links, and with them its services' routes, once.
  await waitFor(
    'the links to b to settle',
    async () => (await rebuiltBy(() => republishWith())).length === 0,
    10_000,
  );
  const rebuilt = await rebuiltBy(() =>
    republishWith('one.default', { endpoints: { total: 1, healthy: 0 } }),
  );
  assert.deepEqual(rebuilt, ['one.default']);
  const routes = new Map(
    a()
      .state()
      .routes.map((r) => [r.service, r]),
  );
  assert.deepEqual(routes.get('one.default')?.unhealthyIn, ['b'], 'the rebuilt route follows the change');
  assert.deepEqual(
    routes.get('two.default')?.failover.map((f) => f.cluster),
    ['b'],
    'the route carried over is unchanged',
  );
});

test('a registration rebuilds its service only; a named health change rebuilds the service named', async () => {
  const catalog = fabric.gateway('a').catalog;
  let id = '';
  const rebuilt = await rebuiltBy(() => {
    id = catalog.register('test', {
      name: 'two',
      namespace: 'default',
      protocol: 'http',
      endpoints: [{ host: '127.0.54.3', port: 3, weight: 1 }],
    });
  });
  assert.deepEqual(rebuilt, ['two.default']);
  const two = a()
    .state()
    .routes.find((r) => r.service === 'two.default');
  assert.deepEqual(two?.local, ['127.0.54.3:2', '127.0.54.3:3']);
  assert.deepEqual(await rebuiltBy(() => catalog.deregister(id)), ['two.default']);

  assert.deepEqual(await rebuiltBy(() => a().requestRefresh(['one.default'])), ['one.default']);
  assert.deepEqual(
    await rebuiltBy(() => a().requestRefresh()),
    ['hello.default', 'one.default', 'two.default'],
    'an unnamed change rebuilds every route',
  );
});
