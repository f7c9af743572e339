// Which services a change touches (gateway/routing/route-changes.ts): a rebuild redoes only their routes,
// so every input a route reads must show up here, and nothing else should.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView, FabricSnapshot } from '../discovery/index.js';
import { LocalCatalog } from '../gateway/catalog/index.js';
import {
  addServicesOfChangedLinks,
  changedServices,
  rttTierChanges,
  servicesReRankedByRtt,
  type RouteInputs,
} from '../gateway/routing/route-changes.js';
import { clusterView, type ClusterSpec } from './helpers/static-fabric-view.js';
import { parseTestConfig } from './helpers/gateway-config.js';

const gateways = [
  { id: 'gw-1', leaseExpiresAt: 0 },
  { id: 'gw-2', leaseExpiresAt: 0 },
];
const b: ClusterSpec = {
  name: 'b',
  gateways,
  services: [{ key: 'one.default' }, { key: 'two.default' }],
};
const c: ClusterSpec = { name: 'c', gateways, services: [{ key: 'three.default' }] };
const own: ClusterSpec = { name: 'a', gateways, services: [{ key: 'one.default' }] };

function fabric(...views: ClusterView[]): FabricSnapshot {
  return {
    revision: 1,
    source: 'redis',
    connected: true,
    syncedAt: 0,
    clusters: new Map(views.map((v) => [v.name, v])),
  };
}

const bView = clusterView(b);
const cView = clusterView(c);
const ownView = clusterView(own);
const noLocal = new Map();
const links = new Map([
  ['b', ' + +'],
  ['c', ' + +'],
]);
const rttTiers = new Map([
  ['b', 0],
  ['c', Number.POSITIVE_INFINITY],
]);
const before: RouteInputs = { fabric: fabric(ownView, bView, cView), local: noLocal, links, rttTiers };

function changed(after: Partial<RouteInputs>): string[] {
  const next = { ...before, ...after };
  const services = changedServices(before, next, 'a');
  addServicesOfChangedLinks(before, next, 'a', services);
  return [...services].sort();
}

type ServiceSpec = NonNullable<ClusterSpec['services']>[number];

/** b's view with one service's export changed. */
function bWith(key: string, change: Partial<ServiceSpec>): ClusterView {
  return clusterView({ ...b, services: b.services?.map((s) => (s.key === key ? { ...s, ...change } : s)) });
}

describe('route changes: the fabric view', () => {
  test('the same inputs, or a new snapshot of the same views, change nothing', () => {
    assert.deepEqual(changed({}), []);
    assert.deepEqual(changed({ fabric: fabric(ownView, clusterView(b), cView) }), []);
  });

  test("a service's healthy endpoints or allow list change that service only", () => {
    assert.deepEqual(changed({ fabric: fabric(ownView, bWith('one.default', { healthy: 0 }), cView) }), [
      'one.default',
    ]);
    assert.deepEqual(changed({ fabric: fabric(ownView, bWith('two.default', { allow: ['c'] }), cView) }), [
      'two.default',
    ]);
  });

  test('what a route does not read (total endpoints) changes nothing', () => {
    assert.deepEqual(
      changed({ fabric: fabric(ownView, bWith('one.default', { total: 5, healthy: 1 }), cView) }),
      [],
    );
  });

  test('a service added to or gone from a cluster is a change of that service', () => {
    const more = clusterView({ ...b, services: [...(b.services ?? []), { key: 'four.default' }] });
    assert.deepEqual(changed({ fabric: fabric(ownView, more, cView) }), ['four.default']);
    const fewer = clusterView({ ...b, services: [{ key: 'two.default' }] });
    assert.deepEqual(changed({ fabric: fabric(ownView, fewer, cView) }), ['one.default']);
  });

  test('the replicas serving a service: a change of the set changes that service', () => {
    const servedBy = (ids: readonly string[]) =>
      new Map([
        ['one.default', new Set(ids)],
        ['two.default', new Set(['gw-1', 'gw-2'])],
      ]);
    const from: RouteInputs = {
      ...before,
      fabric: fabric(ownView, { ...bView, servedBy: servedBy(['gw-1', 'gw-2']) }, cView),
    };
    const same = fabric(ownView, { ...bView, servedBy: servedBy(['gw-2', 'gw-1']) }, cView);
    const fewer = fabric(ownView, { ...bView, servedBy: servedBy(['gw-1']) }, cView);
    assert.deepEqual([...changedServices(from, { ...from, fabric: same }, 'a')], []);
    assert.deepEqual([...changedServices(from, { ...from, fabric: fewer }, 'a')], ['one.default']);
  });

  test("a cluster's freshness, locality or gateways change every service it exports", () => {
    const all = ['one.default', 'two.default'];
    const stale = clusterView({ ...b, freshness: 'stale' });
    assert.deepEqual(changed({ fabric: fabric(ownView, stale, cView) }), all);
    const moved = clusterView({ ...b, locality: { cloud: 'gcp', region: 'r9' } });
    assert.deepEqual(changed({ fabric: fabric(ownView, moved, cView) }), all);
    const gatewayStale = clusterView({
      ...b,
      gateways: [gateways[0]!, { ...gateways[1]!, freshness: 'stale' }],
    });
    assert.deepEqual(changed({ fabric: fabric(ownView, gatewayStale, cView) }), all);
    const oneGateway = clusterView({ ...b, gateways: [gateways[0]!] });
    assert.deepEqual(changed({ fabric: fabric(ownView, oneGateway, cView) }), all);
  });

  test('a cluster that joins or leaves changes every service it exports', () => {
    assert.deepEqual(changed({ fabric: fabric(ownView, bView) }), ['three.default']);
    const d = clusterView({
      name: 'd',
      gateways,
      services: [{ key: 'one.default' }, { key: 'five.default' }],
    });
    assert.deepEqual(changed({ fabric: fabric(ownView, bView, cView, d) }), ['five.default', 'one.default']);
  });

  test('the links to a cluster (probes, ejections) change every service it exports', () => {
    assert.deepEqual(changed({ links: new Map([...links, ['c', ' - +']]) }), ['three.default']);
    assert.deepEqual(changed({ links: new Map([...links, ['b', 'unreachable + +']]) }), [
      'one.default',
      'two.default',
    ]);
  });

  test('an RTT tier is compared apart: it changes no service by itself', () => {
    const after = { ...before, rttTiers: new Map([...rttTiers, ['c', 2]]) };
    assert.deepEqual(changed(after), []);
    assert.deepEqual(rttTierChanges(before, after), ['c']);
    assert.deepEqual(rttTierChanges(before, { ...before, rttTiers: new Map(rttTiers) }), []);
  });

  test('an RTT tier change names the services that ranked that cluster by RTT, if their order changes', () => {
    const decision = (...ranked: string[]) => ({ rttRanked: new Set(ranked) });
    const routes = [
      { service: 'both.default', decision: decision('b', 'c') },
      { service: 'solo.default', decision: decision() },
      { service: 'plain.default', decision: undefined },
      { service: 'other.default', decision: decision('d', 'e') },
      { service: 'mine.default', decision: decision('a', 'b') },
    ];
    const reRanked = (from: Record<string, number>, to: Record<string, number>) => {
      const tiers = (t: Record<string, number>) => ({ ...before, rttTiers: new Map(Object.entries(t)) });
      const into = new Set<string>();
      const was = tiers(from);
      const now = tiers(to);
      servicesReRankedByRtt(routes, rttTierChanges(was, now), was, now, into);
      return [...into].sort();
    };
    const still = { b: 1, c: 4, d: 2, e: 2 };
    assert.deepEqual(
      reRanked(still, { ...still, b: 3 }),
      [],
      'b moves within its place: nearer than c still',
    );
    assert.deepEqual(reRanked(still, { ...still, b: 4 }), [], 'a tie goes by name: b before c still');
    assert.deepEqual(reRanked(still, { ...still, b: 5 }), ['both.default'], 'b passes c');
    assert.deepEqual(reRanked(still, { ...still, e: 1 }), ['other.default'], 'e passes d on a tie');
    assert.deepEqual(
      reRanked(still, { ...still, b: 0 }),
      [],
      'this cluster (a) is tier 0: b ties it, after it by name',
    );
    assert.deepEqual(reRanked(still, { ...still, c: Number.POSITIVE_INFINITY }), []);
  });

  test("this cluster's own view changes nothing: its routes read the local catalog", () => {
    const ownChanged = clusterView({ ...own, services: [{ key: 'one.default', healthy: 0 }] });
    assert.deepEqual(changed({ fabric: fabric(ownChanged, bView, cView) }), []);
  });
});

describe('route changes: the local catalog', () => {
  const config = parseTestConfig([
    { name: 'one', endpoints: ['127.0.0.1:8001'] },
    { name: 'two', endpoints: ['127.0.0.1:8002'] },
  ]);

  test('a registration changes its service only; unchanged services keep their objects', () => {
    const catalog = new LocalCatalog(config.services);
    const first = catalog.services();
    const id = catalog.register('agent', {
      name: 'two',
      namespace: 'default',
      protocol: 'http',
      endpoints: [{ host: '127.0.0.1', port: 8003, weight: 1 }],
    });
    const second = catalog.services();
    assert.equal(second.get('one.default'), first.get('one.default'));
    const from: RouteInputs = { ...before, local: first };
    assert.deepEqual([...changedServices(from, { ...from, local: second }, 'a')], ['two.default']);

    catalog.deregister(id);
    const third = catalog.services();
    assert.deepEqual(
      [...changedServices({ ...from, local: second }, { ...from, local: third }, 'a')],
      ['two.default'],
    );
    const added = catalog.register('agent', {
      name: 'three',
      namespace: 'default',
      protocol: 'grpc',
      endpoints: [{ host: '127.0.0.1', port: 8004, weight: 1 }],
    });
    assert.ok(added);
    const fourth = catalog.services();
    assert.deepEqual(
      [...changedServices({ ...from, local: third }, { ...from, local: fourth }, 'a')],
      ['three.default'],
    );
    assert.deepEqual(
      [...changedServices({ ...from, local: fourth }, { ...from, local: third }, 'a')],
      ['three.default'],
    );
  });

  test('a config reload keeps the objects of the services it leaves as they were', () => {
    const catalog = new LocalCatalog(config.services);
    catalog.register('agent', {
      name: 'two',
      namespace: 'default',
      protocol: 'http',
      endpoints: [{ host: '127.0.0.1', port: 8003, weight: 1 }],
    });
    const first = catalog.services();
    catalog.replaceConfigServices(config.services);
    assert.equal(catalog.services().get('one.default'), first.get('one.default'));
    assert.equal(catalog.services().get('two.default'), first.get('two.default'));
    const reloaded = parseTestConfig([
      { name: 'one', endpoints: ['127.0.0.1:8001'] },
      { name: 'two', endpoints: ['127.0.0.1:8005'] },
    ]);
    catalog.replaceConfigServices(reloaded.services);
    const from: RouteInputs = { ...before, local: first };
    assert.deepEqual(
      [...changedServices(from, { ...from, local: catalog.services() }, 'a')],
      ['two.default'],
    );
    assert.deepEqual(
      catalog
        .services()
        .get('two.default')
        ?.endpoints.map((e) => e.port),
      [8005, 8003],
      'the registration still adds its endpoint',
    );
  });
});
