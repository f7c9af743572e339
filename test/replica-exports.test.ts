// Several gateway replicas per cluster, each exporting its own services and healthy counts: the route
// table sends a service's calls only to the replicas serving it and skips an outlier-ejected replica
// while another can serve (pure); discovery merges the replicas' records with the best replica's counts
// and names the serving replicas (real Redis); and, end to end, real data planes behind real discovery
// send every call from cluster a to a serving replica of cluster b, never to one that does not export
// the service or has no healthy endpoint, whichever replica is newest, nor to one ejected for timing out.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import type { ClusterView, Discovery } from '../discovery/index.js';
import { GatewayError } from '../gateway/errors.js';
import { buildRouteTable } from '../gateway/routing/route-table.js';
import { type RemoteGateway, type TargetStats } from '../gateway/routing/route-targets.js';
import { service } from './helpers/discovery-fixture.js';
import { httpCall } from './helpers/http-call.js';
import { ReplicaFabric } from './helpers/replica-fabric.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';
import { standaloneRedisSuite } from './helpers/standalone-redis.js';
import { clusterView } from './helpers/static-fabric-view.js';
import { waitFor, within } from './helpers/wait.js';

// Loopback addresses of this suite only: 127.0.72.20–.29 for gateways (and addresses in records),
// 127.0.73.21–.30 for endpoints and Redis.
const CALLER = '127.0.72.20';
const REPLICA_HOSTS = ['127.0.72.21', '127.0.72.22', '127.0.72.23'] as const;
const ENDPOINT_HOSTS = ['127.0.73.21', '127.0.73.22', '127.0.73.23'] as const;
const REDIS_HOST = '127.0.73.30';
const RECORD_HOST = '127.0.72.29';

const stats: TargetStats = { record: () => undefined };

/** A route table of cluster `home` over `clusters`, peer gateways keyed `cluster/id`. */
function table(clusters: readonly ClusterView[], ejected: ReadonlySet<string> = new Set()) {
  return buildRouteTable<RemoteGateway & { id: string }>(1, {
    cluster: 'home',
    locality: { cloud: 'aws', region: 'r1' },
    scope: { zone: 'clusterset.local', defaultNamespace: 'default' },
    local: new Map(),
    fabric: {
      revision: 1,
      source: 'redis',
      connected: true,
      syncedAt: 0,
      clusters: new Map(clusters.map((c) => [c.name, c])),
    },
    gatewayOf: (cluster, gateway) => ({
      key: `${cluster}/${gateway.id}`,
      gateway: { id: `${cluster}/${gateway.id}`, available: true },
    }),
    statsFor: () => stats,
    peerStatsFor: () => stats,
    gatewayEjected: (_cluster, key) => ejected.has(key),
  });
}

const threeReplicas = (servedBy?: ReadonlyMap<string, ReadonlySet<string>>): ClusterView => ({
  ...clusterView({
    name: 'b',
    gateways: ['g1', 'g2', 'g3'].map((id) => ({ id, leaseExpiresAt: 0 })),
    services: [{ key: 'hello.default' }, { key: 'other.default' }],
  }),
  ...(servedBy ? { servedBy } : {}),
});

describe('route table over replicas', () => {
  test('a service goes only to the replicas serving it; none serving is no healthy endpoint', () => {
    const routes = table([
      threeReplicas(
        new Map([
          ['hello.default', new Set(['g1', 'g3'])],
          ['other.default', new Set<string>()],
        ]),
      ),
    ]);
    const hello = routes.route('hello.default');
    assert.deepEqual(
      hello?.remotes.map((r) => r.choices.map((c) => c.via)),
      [['b/g1', 'b/g3']],
    );
    const picked = Array.from({ length: 6 }, () => hello?.remotes[0]?.pick()?.via);
    assert.deepEqual(picked, ['b/g1', 'b/g3', 'b/g1', 'b/g3', 'b/g1', 'b/g3']);
    const other = routes.route('other.default');
    assert.deepEqual(other?.remotes, []);
    assert.deepEqual(other?.unhealthyIn, ['b']);
    const err = other?.pick();
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'NO_HEALTHY_UPSTREAM');
    // A view built by hand without servedBy: every gateway serves every service, as before.
    const all = table([threeReplicas()]).route('hello.default');
    assert.deepEqual(
      all?.remotes[0]?.choices.map((c) => c.via),
      ['b/g1', 'b/g2', 'b/g3'],
    );
  });

  test('an outlier-ejected gateway is not picked while another can be; when all are, they still are', () => {
    const one = table([threeReplicas()], new Set(['b/g2'])).route('hello.default')?.remotes[0];
    assert.ok(one);
    assert.deepEqual(
      Array.from({ length: 4 }, () => one.pick()?.via),
      ['b/g1', 'b/g3', 'b/g1', 'b/g3'],
    );
    // A retry: the other non-ejected one, then none (not the ejected one while another could serve).
    assert.equal(one.pickExcept(new Set(['b/g1']))?.via, 'b/g3');
    assert.equal(one.pickExcept(new Set(['b/g1', 'b/g3'])), undefined);
    assert.equal(one.available, true);
    // Panic: every gateway ejected, the cluster is still served by them (failover decides elsewhere).
    const all = table([threeReplicas()], new Set(['b/g1', 'b/g2', 'b/g3'])).route('hello.default')
      ?.remotes[0];
    assert.ok(all);
    assert.deepEqual(
      Array.from({ length: 3 }, () => all.pick()?.via),
      ['b/g1', 'b/g2', 'b/g3'],
    );
    assert.equal(all.pickExcept(new Set(['b/g1']))?.via, 'b/g2');
  });
});

describe('discovery merges replicas', () => {
  const suite = standaloneRedisSuite({ host: REDIS_HOST });

  const at = (n: number) => ({ peerAddress: `${RECORD_HOST}:${4100 + n}` });
  /** Resolves once every record `gateways` want in Redis is there. */
  const written = (...gateways: Discovery[]) =>
    waitFor('records written', () => gateways.every((g) => g.status().pendingWrites === 0), 5000);

  test('counts of the best live replica, allow list of the newest, servedBy names the serving replicas', async () => {
    const g1 = await suite.fx.start('b', 'gw-1', at(1));
    g1.setLocalServices([service('hello', 2, 2)]);
    const g2 = await suite.fx.start('b', 'gw-2', at(2));
    g2.setLocalServices([service('other', 1, 1)]);
    // The newest replica: hello with every endpoint down, and a narrower allow list.
    const g3 = await suite.fx.start('b', 'gw-3', at(3));
    g3.setLocalServices([service('hello', 0, 3, { allow: ['a', 'c'] }), service('other', 0, 1)]);
    await written(g1, g2, g3);
    // Its first full sync reads every record written before it.
    const a = await suite.fx.start('a', 'gw-a', at(4));
    const b = a.view.snapshot().clusters.get('b');
    assert.ok(b);
    assert.equal(b.gateways.length, 3);
    const hello = b.services.get('hello.default');
    assert.deepEqual(hello?.endpoints, { total: 2, healthy: 2 }, 'the best replica, not the newest');
    assert.deepEqual(hello?.allow, ['a', 'c'], 'protocol and allow list: the newest replica wins');
    assert.deepEqual(b.services.get('other.default')?.endpoints, { total: 1, healthy: 1 });
    assert.deepEqual([...(b.servedBy?.get('hello.default') ?? [])], ['gw-1']);
    assert.deepEqual([...(b.servedBy?.get('other.default') ?? [])], ['gw-2']);

    // The newest replica's endpoints come back, the oldest's go down: it no longer serves hello.
    g1.setLocalServices([service('hello', 0, 2)]);
    g3.setLocalServices([service('hello', 1, 3, { allow: ['a', 'c'] }), service('other', 0, 1)]);
    const moved = await within('hello served by gw-3 only', 5000, () => {
      const c = a.view.snapshot().clusters.get('b');
      const by = c?.servedBy?.get('hello.default');
      return c && by?.size === 1 && by.has('gw-3') ? c : undefined;
    });
    assert.deepEqual(moved.services.get('hello.default')?.endpoints, { total: 3, healthy: 1 });

    // The only serving replica leaves: hello is served by none and counts no healthy endpoint.
    await g3.close();
    const gone = await within('gw-3 stale', 5000, () => {
      const c = a.view.snapshot().clusters.get('b');
      return c?.gateways.find((g) => g.id === 'gw-3')?.freshness === 'stale' ? c : undefined;
    });
    assert.equal(gone.servedBy?.get('hello.default')?.size, 0);
    assert.equal(gone.services.get('hello.default')?.endpoints.healthy, 0);
    assert.deepEqual([...(gone.servedBy?.get('other.default') ?? [])], ['gw-2']);
  });

  test('in its own cluster a gateway counts itself among the replicas', async () => {
    const other = await suite.fx.start('a', 'gw-2', at(5));
    other.setLocalServices([service('hello', 1, 1)]);
    await written(other);
    const self = suite.fx.create('a', 'gw-1', at(6));
    self.setLocalServices([service('hello', 0, 2), service('mine', 1, 1)]);
    await self.start();
    const own = self.view.snapshot().clusters.get('a');
    assert.ok(own);
    assert.deepEqual(
      own.gateways.map((g) => g.id),
      ['gw-1', 'gw-2'],
    );
    assert.deepEqual([...(own.servedBy?.get('hello.default') ?? [])], ['gw-2']);
    assert.deepEqual([...(own.servedBy?.get('mine.default') ?? [])], ['gw-1']);
    assert.deepEqual(own.services.get('hello.default')?.endpoints, { total: 1, healthy: 1 });
  });

  test('a cluster of one replica: its exports as they are, served by it where it has a healthy endpoint', async () => {
    const only = await suite.fx.start('c', 'gw-1', at(7));
    only.setLocalServices([service('up', 2, 2), service('down', 0, 1)]);
    const own = only.view.snapshot().clusters.get('c');
    assert.ok(own);
    assert.deepEqual(own.services.get('up.default')?.endpoints, { total: 2, healthy: 2 });
    assert.deepEqual(own.services.get('down.default')?.endpoints, { total: 1, healthy: 0 });
    assert.deepEqual([...(own.servedBy?.get('up.default') ?? [])], ['gw-1']);
    assert.deepEqual([...(own.servedBy?.get('down.default') ?? ['missing'])], []);
    await written(only);
    const a = await suite.fx.start('a', 'gw-a', at(8));
    const seen = a.view.snapshot().clusters.get('c');
    assert.deepEqual(
      [...(seen?.servedBy?.get('up.default') ?? [])],
      ['gw-1'],
      'the same from another cluster',
    );
    assert.deepEqual([...(seen?.servedBy?.get('down.default') ?? ['missing'])], []);
  });
});

/** An HTTP server that takes requests and never answers them. */
async function startSilentUpstream(host: string): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server: Server = createServer(() => undefined);
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `${host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * One call of hello.default through cluster a (GET /whoami, or POST /echo, which is never retried once
 * it reached an endpoint): the replica whose endpoint answered, or the failure.
 */
async function callHello(fabric: ReplicaFabric, method: 'GET' | 'POST' = 'GET'): Promise<string> {
  const answer = await httpCall(`${fabric.caller.outboundUrl}/${method === 'GET' ? 'whoami' : 'echo'}`, {
    method,
    headers: { host: 'hello.default' },
    ...(method === 'POST' ? { body: Buffer.from('ping') } : {}),
  });
  const servedBy = answer.headers['x-served-by'];
  if (answer.status === 200 && typeof servedBy === 'string') return servedBy;
  return `${answer.status} ${answer.body.toString().trim()}`;
}

async function callMany(
  fabric: ReplicaFabric,
  count: number,
  method: 'GET' | 'POST' = 'GET',
): Promise<Record<string, number>> {
  const answers: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const who = await callHello(fabric, method);
    answers[who] = (answers[who] ?? 0) + 1;
  }
  return answers;
}

describe('data planes over replicas', () => {
  const upstreams: { close(): Promise<void> }[] = [];
  let fabric: ReplicaFabric | undefined;

  afterEach(async () => {
    await fabric?.close();
    fabric = undefined;
    for (const upstream of upstreams.splice(0)) await upstream.close();
  });

  async function httpUpstream(host: string, name: string): Promise<HttpUpstream> {
    const upstream = await startHttpUpstream(host, name);
    upstreams.push(upstream);
    return upstream;
  }

  test('calls skip a replica that does not export the service and the newest one, whose endpoints are down', async () => {
    const [e1, e2, e3] = await Promise.all(ENDPOINT_HOSTS.map((h, i) => httpUpstream(h, `b-${i + 1}`)));
    assert.ok(e1 && e2 && e3);
    fabric = await ReplicaFabric.start({
      redisHost: REDIS_HOST,
      callerHost: CALLER,
      replicas: [
        { id: 'b-1', host: REPLICA_HOSTS[0], services: { hello: [e1.endpoint] } },
        // Does not export hello at all: it would answer 404 NO_ROUTE.
        { id: 'b-2', host: REPLICA_HOSTS[1], services: { other: [e2.endpoint] } },
        // The newest replica, its hello endpoints down: it would answer 503 and, as the newest, its
        // healthy 0 used to stand for the whole cluster.
        {
          id: 'b-3',
          host: REPLICA_HOSTS[2],
          services: { hello: [e3.endpoint] },
          down: ['hello.default'],
        },
      ],
    });
    const f = fabric;
    const b = f.caller.discovery.view.snapshot().clusters.get('b');
    assert.deepEqual(
      b?.gateways.map((g) => [g.id, g.freshness]),
      [
        ['b-1', 'live'],
        ['b-2', 'live'],
        ['b-3', 'live'],
      ],
    );
    assert.deepEqual(await callMany(f, 12), { 'b-1': 12 });
    assert.deepEqual(await callMany(f, 12, 'POST'), { 'b-1': 12 });
    assert.deepEqual(f.attemptsByReplica('hello.default'), { 'b-1': 24 });
  });

  test("when the oldest replica's endpoints go down, its calls move to the other replica", async () => {
    const [e1, e2] = await Promise.all(
      ENDPOINT_HOSTS.slice(0, 2).map((h, i) => httpUpstream(h, `b-${i + 1}`)),
    );
    assert.ok(e1 && e2);
    fabric = await ReplicaFabric.start({
      redisHost: REDIS_HOST,
      callerHost: CALLER,
      replicas: [
        { id: 'b-1', host: REPLICA_HOSTS[0], services: { hello: [e1.endpoint] } },
        { id: 'b-2', host: REPLICA_HOSTS[1], services: { hello: [e2.endpoint] } },
      ],
    });
    const f = fabric;
    // Both replicas serve it: calls go round robin over them.
    const seen = new Set<string>();
    while (seen.size < 2) {
      assert.ok(f.outcomes.length < 20, `both replicas should get calls, got only ${[...seen].join()}`);
      const who = await callHello(f, 'POST');
      assert.ok(who === 'b-1' || who === 'b-2', who);
      seen.add(who);
    }
    // The oldest replica's endpoints go down; it says so with a marker export the test waits for.
    const from = f.outcomes.length;
    f.setDown('b-1', 'hello.default', true, [service('mark-b1', 1, 1)]);
    await waitFor(
      'cluster a sees the change',
      () => f.caller.discovery.view.snapshot().clusters.get('b')?.services.has('mark-b1.default') ?? false,
      10_000,
    );
    // POSTs are not retried once they reached a gateway: one sent to b-1 would fail.
    assert.deepEqual(await callMany(f, 12, 'POST'), { 'b-2': 12 });
    assert.deepEqual(await callMany(f, 12), { 'b-2': 12 });
    assert.deepEqual(f.attemptsByReplica('hello.default', from), { 'b-2': 24 });
  });

  test('a replica ejected by outlier detection gets no calls while the other serves', async () => {
    const good = await httpUpstream(ENDPOINT_HOSTS[0], 'b-1');
    const silent = await startSilentUpstream(ENDPOINT_HOSTS[1]);
    upstreams.push(silent);
    fabric = await ReplicaFabric.start({
      redisHost: REDIS_HOST,
      callerHost: CALLER,
      // Each try to the silent replica times out (a local-origin failure against that gateway) and is
      // retried on the other; two in a row eject it, for longer than the test runs.
      callerFailover: {
        timeouts: { perTry: '1s' },
        outlierDetection: {
          consecutiveLocalOriginFailures: 2,
          baseEjectionTime: '120s',
          maxEjectionTime: '120s',
        },
      },
      replicas: [
        { id: 'b-1', host: REPLICA_HOSTS[0], services: { hello: [good.endpoint] } },
        { id: 'b-2', host: REPLICA_HOSTS[1], services: { hello: [silent.endpoint] } },
      ],
    });
    const f = fabric;
    const silentKey = f.replica('b-2').key;
    await waitFor(
      'cluster a sees both replicas of b',
      () => {
        const b = f.caller.discovery.view.snapshot().clusters.get('b');
        return (
          b?.gateways.filter((g) => g.freshness === 'live').length === 2 && b.services.has('hello.default')
        );
      },
      10_000,
    );
    let calls = 0;
    while (!f.caller.outliers.gateways.isEjected('b', silentKey)) {
      assert.ok(calls < 20, 'the silent replica should be ejected after two timed-out tries');
      assert.equal(await callHello(f), 'b-1', 'timed-out tries are retried on the other replica');
      calls++;
    }
    // It still answers probes (no peer check takes it out): only outlier detection knows it fails.
    const from = f.outcomes.length;
    assert.deepEqual(await callMany(f, 20), { 'b-1': 20 });
    assert.deepEqual(f.attemptsByReplica('hello.default', from), { 'b-1': 20 });
  });
});
