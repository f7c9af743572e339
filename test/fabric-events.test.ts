// Fabric events: failover and failback with their reasons, read off successive route states (table
// of transitions), cluster and discovery transitions from successive fabric snapshots, and the
// FabricEvents ring driven by a view and a data plane state the test controls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FabricEvents,
  fabricEventOfFailover,
  clusterTransitions,
  failoverEvents,
  readRoutes,
  targetOf,
  type FabricEvent,
} from '../gateway/observability/index.js';
import { StaticFabricView, type ClusterSpec } from './helpers/static-fabric-view.js';

const LOCAL = 'aws-use1';
const context = { localCluster: LOCAL, at: 1000, observer: 'aws-use1/gw-a', peers: [] };

interface RouteSpec {
  local?: boolean;
  remotes?: { cluster: string; stale?: boolean; available?: boolean }[];
  deniedBy?: string[];
  unhealthyIn?: string[];
}

/** A data plane state as DataPlane.state() gives it, reduced to the fields read. */
function state(routes: Record<string, RouteSpec>, peers: unknown[] = []): unknown {
  return {
    routes: Object.entries(routes).map(([service, r]) => ({
      service,
      protocol: 'http',
      local: r.local ? ['10.0.0.1:8080'] : [],
      failover: (r.remotes ?? []).map((remote) => ({
        cluster: remote.cluster,
        stale: remote.stale ?? false,
        gateways: [{ gateway: `${remote.cluster}/gw`, available: remote.available ?? true }],
      })),
      deniedBy: r.deniedBy ?? [],
      unhealthyIn: r.unhealthyIn ?? [],
    })),
    peers,
  };
}

test('route targets: local first, then live remotes in order, then stale as a last resort', () => {
  const routes = readRoutes(
    state({
      'a.ns': { local: true, remotes: [{ cluster: 'gcp-euw1' }] },
      'b.ns': { remotes: [{ cluster: 'gcp-euw1', stale: true }, { cluster: 'azure-weu' }] },
      'c.ns': { remotes: [{ cluster: 'gcp-euw1', stale: true }] },
      'd.ns': { remotes: [{ cluster: 'gcp-euw1', available: false }] },
    }),
  );
  const target = (s: string) => targetOf(routes.get(s)!, LOCAL);
  assert.deepEqual(target('a.ns'), { cluster: LOCAL, rank: 0, stale: false });
  assert.deepEqual(target('b.ns'), { cluster: 'azure-weu', rank: 2, stale: false });
  assert.deepEqual(target('c.ns'), { cluster: 'gcp-euw1', rank: 1, stale: true });
  assert.deepEqual(target('d.ns'), { cluster: null, rank: Infinity, stale: false });
  assert.equal(readRoutes('garbage').size, 0);
  assert.equal(readRoutes({ routes: [null, 3, { service: 7 }] }).size, 0);
});

test('failover and failback events carry the reason for the move', () => {
  const remotes = [{ cluster: 'gcp-euw1' }, { cluster: 'azure-weu' }];
  const cases: {
    name: string;
    before: RouteSpec;
    after: RouteSpec;
    peers?: unknown[];
    kind?: FabricEvent['kind'];
    from?: string | null;
    to?: string | null;
    reason?: RegExp;
  }[] = [
    { name: 'no change', before: { local: true, remotes }, after: { local: true, remotes } },
    {
      name: 'local endpoints unhealthy',
      before: { local: true, remotes },
      after: { remotes, unhealthyIn: [LOCAL] },
      kind: 'failover',
      from: LOCAL,
      to: 'gcp-euw1',
      reason:
        /no healthy local endpoint of hello\.default is left in aws-use1; sending hello\.default to gcp-euw1/,
    },
    {
      name: 'remote cluster stale',
      before: { remotes },
      after: { remotes: [{ cluster: 'gcp-euw1', stale: true }, { cluster: 'azure-weu' }] },
      kind: 'failover',
      from: 'gcp-euw1',
      to: 'azure-weu',
      reason: /gcp-euw1 is stale: its gateways' leases expired/,
    },
    {
      name: 'remote gateways unreachable, with the peer error',
      before: { remotes },
      after: { remotes: [{ cluster: 'gcp-euw1', available: false }, { cluster: 'azure-weu' }] },
      peers: [{ cluster: 'gcp-euw1', available: false, lastError: 'connect ECONNREFUSED 127.0.2.1:4143' }],
      kind: 'failover',
      from: 'gcp-euw1',
      to: 'azure-weu',
      reason: /no gateway of gcp-euw1 is reachable: connect ECONNREFUSED/,
    },
    {
      name: 'export withdrawn',
      before: { remotes },
      after: { remotes: [{ cluster: 'azure-weu' }] },
      kind: 'failover',
      reason: /gcp-euw1 no longer exports hello\.default/,
    },
    {
      name: 'caller no longer allowed',
      before: { remotes },
      after: { remotes: [{ cluster: 'azure-weu' }], deniedBy: ['gcp-euw1'] },
      kind: 'failover',
      reason: /gcp-euw1 no longer allows calls from aws-use1/,
    },
    {
      name: 'nothing left',
      before: { remotes: [{ cluster: 'gcp-euw1' }] },
      after: { remotes: [{ cluster: 'gcp-euw1', available: false }] },
      kind: 'failover',
      to: null,
      reason: /no other cluster can serve hello\.default now/,
    },
    {
      name: 'failback to the preferred cluster',
      before: { remotes: [{ cluster: 'gcp-euw1', stale: true }, { cluster: 'azure-weu' }] },
      after: { remotes },
      kind: 'failback',
      from: 'azure-weu',
      to: 'gcp-euw1',
      reason: /gcp-euw1 is preferred and can serve hello\.default again/,
    },
    {
      name: 'failback to local',
      before: { remotes, unhealthyIn: [LOCAL] },
      after: { local: true, remotes },
      kind: 'failback',
      to: LOCAL,
      reason: /local endpoints of hello\.default are healthy again/,
    },
  ];
  for (const c of cases) {
    const before = readRoutes(state({ 'hello.default': c.before }));
    const afterState = state({ 'hello.default': c.after }, c.peers ?? []);
    const events = failoverEvents(before, readRoutes(afterState), {
      ...context,
      peers: (c.peers ?? []) as never[],
    });
    if (!c.kind) {
      assert.deepEqual(events, [], c.name);
      continue;
    }
    assert.equal(events.length, 1, c.name);
    const [event] = events;
    assert.equal(event?.kind, c.kind, c.name);
    assert.equal(event?.service, 'hello.default');
    assert.equal(event?.observer, 'aws-use1/gw-a');
    if (c.from !== undefined) assert.equal(event?.from, c.from, c.name);
    if (c.to !== undefined) assert.equal(event?.to, c.to, c.name);
    assert.match(event?.reason ?? '', c.reason!, c.name);
  }
});

function snapshotOf(
  clusters: ClusterSpec[],
  fields: { connected?: boolean; source?: 'redis' | 'disk' | 'empty' } = {},
) {
  return new StaticFabricView(clusters, fields).snapshot();
}

test('cluster transitions: joined, stale with reason, live again, gateway churn, evicted, left, discovery', () => {
  const live = (name: string, ids = ['gw-1']): ClusterSpec => ({
    name,
    gateways: ids.map((id) => ({ id, leaseExpiresAt: 5000 })),
  });
  const stale = (name: string): ClusterSpec => ({
    name,
    freshness: 'stale',
    staleSince: 900,
    gateways: [{ id: 'gw-1', leaseExpiresAt: 900, freshness: 'stale' }],
  });
  const kinds = (events: FabricEvent[]) => events.map((e) => `${e.kind}:${e.cluster ?? ''}`);
  const first = snapshotOf([live('a'), live('b')], { source: 'empty' });
  assert.deepEqual(
    clusterTransitions(first, snapshotOf([live('a'), live('b')]), 1000, 'x/1'),
    [],
    'the first sync is not news',
  );
  const base = snapshotOf([live('a'), live('b')]);
  assert.deepEqual(
    kinds(clusterTransitions(base, snapshotOf([live('a'), live('b'), live('c')]), 1000, 'x/1')),
    ['cluster-joined:c'],
  );
  const staleEvents = clusterTransitions(base, snapshotOf([live('a'), stale('b')]), 1000, 'x/1');
  assert.deepEqual(kinds(staleEvents), ['cluster-stale:b']);
  assert.match(staleEvents[0]?.reason ?? '', /lease of its gateway expired 0\.1s ago/);
  assert.deepEqual(
    kinds(clusterTransitions(snapshotOf([stale('b')]), snapshotOf([live('b')]), 1000, 'x/1')),
    ['cluster-live:b'],
  );
  assert.deepEqual(
    kinds(clusterTransitions(base, snapshotOf([live('a', ['gw-1', 'gw-2']), live('b', [])]), 1000, 'x/1')),
    ['gateway-joined:a', 'gateway-left:b'],
  );
  assert.deepEqual(
    kinds(clusterTransitions(snapshotOf([live('a'), stale('b')]), snapshotOf([live('a')]), 1000, 'x/1')),
    ['cluster-evicted:b'],
  );
  assert.deepEqual(kinds(clusterTransitions(base, snapshotOf([live('a')]), 1000, 'x/1')), ['cluster-left:b']);
  assert.deepEqual(
    kinds(clusterTransitions(base, snapshotOf([live('a'), live('b')], { connected: false }), 1000, 'x/1')),
    ['discovery-disconnected:'],
  );
});

test('FabricEvents keeps the newest events from view swaps and route polls', () => {
  const view = new StaticFabricView([{ name: 'gcp-euw1', gateways: [{ id: 'gw-1', leaseExpiresAt: 5000 }] }]);
  let current = state({ 'hello.default': { remotes: [{ cluster: 'gcp-euw1' }, { cluster: 'azure-weu' }] } });
  let at = 10_000;
  const events = new FabricEvents({
    view,
    dataPlaneState: () => current,
    localCluster: LOCAL,
    observer: 'aws-use1/gw-a',
    capacity: 3,
    pollIntervalMs: 60_000,
    now: () => at,
  });
  events.start();
  try {
    at = 11_000;
    current = state({
      'hello.default': { remotes: [{ cluster: 'gcp-euw1', stale: true }, { cluster: 'azure-weu' }] },
    });
    view.publish([
      {
        name: 'gcp-euw1',
        freshness: 'stale',
        staleSince: 10_500,
        gateways: [{ id: 'gw-1', leaseExpiresAt: 10_500, freshness: 'stale' }],
      },
    ]);
    assert.deepEqual(
      events.recent().map((e) => e.kind),
      ['failover', 'cluster-stale'],
      'the view swap records the cluster event and reads the routes at once',
    );
    at = 12_000;
    current = state({ 'hello.default': { remotes: [{ cluster: 'gcp-euw1' }, { cluster: 'azure-weu' }] } });
    events.poll();
    at = 13_000;
    current = state({
      'hello.default': { remotes: [{ cluster: 'gcp-euw1', available: false }, { cluster: 'azure-weu' }] },
    });
    events.poll();
    assert.deepEqual(
      events.recent().map((e) => `${e.kind}@${e.at}`),
      ['failover@13000', 'failback@12000', 'failover@11000'],
      'newest first, capacity 3',
    );
  } finally {
    events.close();
  }
  assert.equal(view.listenerCount(), 0, 'close unsubscribes');
});

test('a poll reads the data plane only once its routes were rebuilt since the last reading', () => {
  const view = new StaticFabricView([]);
  let reads = 0;
  let current = state({ 'hello.default': { local: true } });
  let version = 1;
  const events = new FabricEvents({
    view,
    dataPlaneState: () => {
      reads++;
      return current;
    },
    routesVersion: () => version,
    localCluster: LOCAL,
    observer: 'aws-use1/gw-a',
    pollIntervalMs: 60_000,
    now: () => 5000,
  });
  events.start();
  try {
    assert.equal(reads, 1, 'read once at start');
    events.poll();
    view.publish([]);
    assert.equal(reads, 1, 'no rebuild since: neither a poll nor a view swap reads the whole state');
    current = state({ 'hello.default': { remotes: [{ cluster: 'gcp-euw1' }] } });
    version = 2;
    view.publish([]);
    assert.equal(reads, 1, 'a view swap without a cluster transition leaves the routes to the next poll');
    events.poll();
    assert.equal(reads, 2);
    assert.deepEqual(
      events.recent().map((e) => e.kind),
      ['failover'],
    );
  } finally {
    events.close();
  }
});

test("the failover policy's own events are reported as they are, and route-derived ones can be turned off", () => {
  const view = new StaticFabricView([]);
  let current = state({ 'hello.default': { local: true } });
  const events = new FabricEvents({
    view,
    dataPlaneState: () => current,
    localCluster: LOCAL,
    observer: 'aws-use1/gw-a',
    deriveFailover: false,
    now: () => 5000,
  });
  events.start();
  try {
    current = state({ 'hello.default': { remotes: [{ cluster: 'gcp-euw1' }] } });
    events.poll();
    assert.deepEqual(events.recent(), [], 'no derived failover');
    events.report(
      fabricEventOfFailover({
        type: 'failover',
        service: 'hello.default',
        cluster: LOCAL,
        cause: 'no-healthy-endpoints',
        to: ['gcp-euw1'],
        reason: 'aws-use1 has no healthy endpoint for hello.default',
      }),
    );
    events.report({
      ...fabricEventOfFailover({
        type: 'mode',
        service: 'hello.default',
        mode: 'stale',
        previous: 'normal',
        reason: 'no live cluster can serve',
      }),
      at: 6000,
    });
    assert.deepEqual(
      events.recent().map((e) => [e.kind, e.at, e.from ?? null, e.to ?? null, e.observer, e.reason]),
      [
        ['routing-mode', 6000, null, null, 'aws-use1/gw-a', 'normal → stale: no live cluster can serve'],
        [
          'failover',
          5000,
          LOCAL,
          'gcp-euw1',
          'aws-use1/gw-a',
          'aws-use1 has no healthy endpoint for hello.default',
        ],
      ],
    );
  } finally {
    events.close();
  }
});
