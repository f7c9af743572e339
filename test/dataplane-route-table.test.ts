// The route table without a failover policy: local first, remote clusters in locality order with stale
// ones last, pinned names, allow lists, unknown names, weighted local balancing and the name cache; a
// rebuild that carries unchanged routes over, and with a policy, the routes an RTT tier change rebuilds.
import { setImmediate as turn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalService } from '../gateway/catalog/index.js';
import { GatewayError } from '../gateway/errors.js';
import { buildRouteTable, rebuildRouteTable, type RouteTableInput } from '../gateway/routing/route-table.js';
import { type RemoteGateway, type TargetStats } from '../gateway/routing/route-targets.js';
import { rttTierChanges, servicesReRankedByRtt, type RouteInputs } from '../gateway/routing/route-changes.js';
import { FailoverPolicy, rttTier } from '../gateway/resilience/index.js';
import { clusterView, type ClusterSpec } from './helpers/static-fabric-view.js';

const stats: TargetStats = { record: () => undefined };

function table(local: LocalService[], clusters: ClusterSpec[], down: ReadonlySet<string> = new Set()) {
  return buildRouteTable(1, input(local, clusters, down));
}

type Gateway = RemoteGateway & { id: string };

function input(
  local: LocalService[],
  clusters: ClusterSpec[],
  down: ReadonlySet<string> = new Set(),
): RouteTableInput<Gateway> {
  return {
    cluster: 'home',
    locality: { cloud: 'aws', region: 'us-east-1' },
    scope: { zone: 'clusterset.local', defaultNamespace: 'default' },
    local: new Map(local.map((s) => [s.key, s])),
    fabric: {
      revision: 1,
      source: 'redis',
      connected: true,
      syncedAt: 0,
      clusters: new Map(clusters.map((c) => [c.name, clusterView(c)])),
    },
    gatewayOf: (cluster, gateway) => ({
      key: `${cluster}/${gateway.id}`,
      gateway: { id: `${cluster}/${gateway.id}`, available: !down.has(cluster) },
    }),
    statsFor: () => stats,
    peerStatsFor: () => stats,
  };
}

const gw = [{ id: 'g1', leaseExpiresAt: 0 }];
const local = (
  name: string,
  endpoints: { host: string; port: number; weight: number }[],
  allow: string[] | null = null,
): LocalService => ({
  key: `${name}.default`,
  name,
  namespace: 'default',
  protocol: 'http',
  allow,
  endpoints,
});

const fabric: ClusterSpec[] = [
  {
    name: 'gcp-use1',
    locality: { cloud: 'gcp', region: 'us-east-1' },
    gateways: gw,
    services: [{ key: 'web.default' }],
  },
  {
    name: 'aws-euw1',
    locality: { cloud: 'aws', region: 'eu-west-1' },
    gateways: gw,
    services: [{ key: 'web.default' }],
  },
  {
    name: 'aws-use1b',
    locality: { cloud: 'aws', region: 'us-east-1' },
    gateways: gw,
    services: [{ key: 'web.default' }],
  },
  {
    name: 'old',
    locality: { cloud: 'aws', region: 'us-east-1' },
    freshness: 'stale',
    gateways: [{ id: 'g1', leaseExpiresAt: 0, freshness: 'stale' }],
    services: [{ key: 'web.default' }, { key: 'legacy.default' }],
  },
  { name: 'locked', gateways: gw, services: [{ key: 'vault.default', allow: ['someone-else'] }] },
  { name: 'empty', gateways: gw, services: [{ key: 'idle.default', total: 2, healthy: 0 }] },
];

test('remote clusters: same region, then same cloud, then the rest; stale clusters last', () => {
  const route = table([], fabric).route('web.default');
  assert.deepEqual(
    route?.remotes.map((r) => r.cluster),
    ['aws-use1b', 'aws-euw1', 'gcp-use1', 'old'],
  );
  const picked = route?.pick();
  assert.ok(picked && !(picked instanceof GatewayError));
  assert.equal(picked.cluster, 'aws-use1b');
});

test('local first; a pinned name goes only to its cluster', () => {
  const routes = table([local('web', [{ host: '10.0.0.1', port: 80, weight: 1 }])], fabric);
  const route = routes.route('web.default');
  assert.equal((route?.pick() as { kind: string }).kind, 'local');
  const pinned = route?.pick('gcp-use1');
  assert.ok(pinned && !(pinned instanceof GatewayError));
  assert.equal(pinned.cluster, 'gcp-use1');
  assert.equal((route?.pick('home') as { kind: string }).kind, 'local');
});

test('unavailable gateways are skipped; a stale cluster serves only when nothing live can', () => {
  const route = table([], fabric, new Set(['aws-use1b', 'aws-euw1', 'gcp-use1'])).route('web.default');
  const picked = route?.pick();
  assert.ok(picked && !(picked instanceof GatewayError));
  assert.equal(picked.cluster, 'old');
  const legacy = table([], fabric).route('legacy.default')?.pick();
  assert.ok(legacy && !(legacy instanceof GatewayError));
  assert.equal(legacy.cluster, 'old');
});

test('refusals say why: forbidden by an allow list, no healthy endpoint, not exported there', () => {
  const routes = table([], fabric);
  const forbidden = routes.route('vault.default')?.pick();
  assert.ok(forbidden instanceof GatewayError);
  assert.equal(forbidden.code, 'FORBIDDEN');
  assert.match(forbidden.message, /cluster home is not allowed to call service vault\.default/);
  const idle = routes.route('idle.default')?.pick();
  assert.ok(idle instanceof GatewayError);
  assert.equal(idle.code, 'NO_HEALTHY_UPSTREAM');
  assert.match(idle.message, /no healthy endpoints in empty/);
  const elsewhere = routes.route('web.default')?.pick('empty');
  assert.ok(elsewhere instanceof GatewayError);
  assert.equal(elsewhere.code, 'NO_ROUTE');
  assert.equal(routes.route('nosuch.default'), undefined);
});

test('local endpoints are balanced by weight (smooth, 3:1)', () => {
  const route = table(
    [
      local('web', [
        { host: '10.0.0.1', port: 80, weight: 3 },
        { host: '10.0.0.2', port: 80, weight: 1 },
      ]),
    ],
    [],
  ).route('web.default');
  const target = route?.local;
  assert.ok(target);
  const picks = Array.from({ length: 8 }, () => target.pick()?.via);
  assert.deepEqual(picks, [
    '10.0.0.1:80',
    '10.0.0.1:80',
    '10.0.0.2:80',
    '10.0.0.1:80',
    '10.0.0.1:80',
    '10.0.0.1:80',
    '10.0.0.2:80',
    '10.0.0.1:80',
  ]);
});

test('names resolve through the table (cached), foreign names do not', () => {
  const routes = table([], fabric);
  assert.deepEqual(routes.resolve('web'), { service: 'web.default' });
  assert.deepEqual(routes.resolve('gcp-use1.web.default.svc.clusterset.local'), {
    service: 'web.default',
    cluster: 'gcp-use1',
  });
  assert.equal(routes.resolve('www.example.com'), undefined);
  assert.equal(routes.resolve('www.example.com'), undefined);
});

test('a rebuild redoes the changed routes, drops the services gone, and carries the others over', () => {
  const web = local('web', [{ host: '10.0.0.1', port: 80, weight: 1 }]);
  const previous = table([web], fabric);
  const fewer = fabric.filter((c) => c.name !== 'old');
  const next = rebuildRouteTable(2, input([web], fewer), previous, ['web.default', 'legacy.default']);
  assert.equal(next.revision, 2);
  assert.equal(next.route('legacy.default'), undefined, 'only the cluster that left exported it');
  assert.notEqual(next.route('web.default'), previous.route('web.default'));
  assert.deepEqual(
    next.route('web.default')?.remotes.map((r) => r.cluster),
    ['aws-use1b', 'aws-euw1', 'gcp-use1'],
    'rebuilt from the new inputs',
  );
  assert.equal(next.route('vault.default'), previous.route('vault.default'), 'unchanged: the same route');
  assert.equal(next.route('idle.default'), previous.route('idle.default'));
});

test('an RTT tier change rebuilds only the routes that ranked that cluster by RTT', () => {
  const rtts: Record<string, number> = { 'gcp-euw1': 40, 'azure-weu': 80 };
  const policies = new Map<string, FailoverPolicy>();
  const clusters: ClusterSpec[] = [
    {
      name: 'gcp-euw1',
      locality: { cloud: 'gcp', region: 'europe-west1' },
      gateways: gw,
      services: [{ key: 'both.default' }, { key: 'solo.default' }],
    },
    {
      name: 'azure-weu',
      locality: { cloud: 'azure', region: 'westeurope' },
      gateways: gw,
      services: [{ key: 'both.default' }],
    },
  ];
  const withFailover = (): RouteTableInput<Gateway> => ({
    ...input([], clusters),
    failover: {
      policyFor: (service) => {
        const policy =
          policies.get(service) ??
          new FailoverPolicy({
            service,
            cluster: 'home',
            locality: { cloud: 'aws', region: 'us-east-1' },
            policy: {
              mode: 'locality',
              order: [],
              priorities: {},
              weights: {},
              holdDownMs: 0,
              failbackRampMs: 0,
            },
          });
        policies.set(service, policy);
        return policy;
      },
      clusterRttMs: (cluster) => rtts[cluster],
      gatewayReachable: () => true,
      clusterEjected: () => false,
      endpointEjected: () => false,
    },
  });
  const first = buildRouteTable(1, withFailover());
  const nearest = (t: typeof first, service: string) => t.route(service)?.decision?.shares[0]?.cluster;
  assert.equal(nearest(first, 'both.default'), 'gcp-euw1');

  const inputs = (): RouteInputs => {
    const tiers = Object.entries(rtts).map(([name, rtt]) => [name, rttTier(rtt)] as const);
    return { fabric: withFailover().fabric, local: new Map(), links: new Map(), rttTiers: new Map(tiers) };
  };
  const was = inputs();
  rtts['gcp-euw1'] = 120;
  const now = inputs();
  const changed = new Set<string>();
  servicesReRankedByRtt(first.routes.values(), rttTierChanges(was, now), was, now, changed);
  assert.deepEqual([...changed], ['both.default'], 'solo.default has no other cluster to rank gcp against');
  const next = rebuildRouteTable(2, withFailover(), first, changed);
  assert.equal(nearest(next, 'both.default'), 'azure-weu', 'the nearer cluster now');
  assert.equal(next.route('solo.default'), first.route('solo.default'));
  // What a rebuild of every route would answer: the same.
  assert.equal(nearest(buildRouteTable(3, withFailover()), 'solo.default'), nearest(next, 'solo.default'));
});

test("a route carried over keeps no earlier rebuild's input alive", async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const web = local('web', [{ host: '10.0.0.1', port: 80, weight: 1 }]);
  const db = local('db', [{ host: '10.0.0.2', port: 5432, weight: 1 }]);
  /** The first table, and a weak reference to the fabric snapshot of its input. */
  const firstBuild = () => {
    const first = input([web, db], fabric);
    return { table: buildRouteTable(1, first), fabric: new WeakRef(first.fabric) };
  };
  const { table: previous, fabric: firstFabric } = firstBuild();
  const next = rebuildRouteTable(2, input([web, db], fabric), previous, ['web.default']);
  await turn();
  gc();
  assert.ok(next.route('db.default')?.local, 'db.default was carried over, with its local target');
  assert.equal(firstFabric.deref(), undefined, 'the first fabric snapshot was collected');
});
