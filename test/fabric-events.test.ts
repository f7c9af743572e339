// Fabric events: cluster and discovery transitions from successive fabric snapshots, the failover
// policy's decisions as fabric events, and the FabricEvents ring driven by a view the test controls and
// by the reports of a real failover policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FabricEvents,
  fabricEventOfFailover,
  clusterTransitions,
  latestEvents,
  type FabricEvent,
} from '../gateway/observability/index.js';
import { MAX_STATS_EVENTS } from '../discovery/index.js';
import { foldEvents } from '../gateway/admin/index.js';
import { FailoverPolicy, type FailoverCandidate, type FailoverMode } from '../gateway/resilience/index.js';
import { StaticFabricView, type ClusterSpec } from './helpers/static-fabric-view.js';

const LOCAL = 'aws-use1';

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

/** gcp-euw1 whose only gateway's lease expired at 10.5 s. */
const GCP_STALE: ClusterSpec = {
  name: 'gcp-euw1',
  freshness: 'stale',
  staleSince: 10_500,
  gateways: [{ id: 'gw-1', leaseExpiresAt: 10_500, freshness: 'stale' }],
};

test('FabricEvents keeps the newest events from view swaps and reports, newest first', () => {
  const view = new StaticFabricView([{ name: 'gcp-euw1', gateways: [{ id: 'gw-1', leaseExpiresAt: 5000 }] }]);
  let at = 10_000;
  const events = new FabricEvents({ view, observer: 'aws-use1/gw-a', capacity: 3, now: () => at });
  events.start();
  try {
    at = 11_000;
    view.publish([GCP_STALE]);
    assert.deepEqual(
      events.recent().map((e) => `${e.kind}:${e.cluster}@${e.at}`),
      ['cluster-stale:gcp-euw1@11000'],
      'the view swap recorded the transition',
    );
    at = 12_000;
    events.report({ kind: 'failover', service: 'hello.default', cluster: 'gcp-euw1', reason: 'stale' });
    at = 13_000;
    events.report({ kind: 'failback', service: 'hello.default', cluster: 'gcp-euw1', reason: 'back' });
    events.report({ kind: 'routing-mode', service: 'hello.default', reason: 'normal', at: 13_500 });
    assert.deepEqual(
      events.recent().map((e) => `${e.kind}@${e.at}`),
      ['routing-mode@13500', 'failback@13000', 'cluster-stale@11000'],
      'newest first, capacity 3, and the cluster event keeps its place among the failovers',
    );
    assert.deepEqual(events.recent(1)[0]?.observer, 'aws-use1/gw-a');
  } finally {
    events.close();
  }
  assert.equal(view.listenerCount(), 0, 'close unsubscribes');
});

test("a cloud's failure stays in view of the failovers it causes: the ring, the stats record's share, the dashboard", () => {
  const view = new StaticFabricView([{ name: 'gcp-euw1', gateways: [{ id: 'gw-1', leaseExpiresAt: 5000 }] }]);
  let at = 10_000;
  const events = new FabricEvents({ view, observer: 'aws-use1/gw-a', now: () => at });
  events.start();
  try {
    at = 11_000;
    view.publish([GCP_STALE]);
    for (let i = 0; i < 200; i++)
      events.report({ kind: 'failover', service: `svc-${i}.default`, cluster: 'gcp-euw1', reason: 'stale' });
    const kinds = (list: readonly { kind: string }[]) => list.map((e) => e.kind);
    const ring = events.recent();
    assert.equal(ring.length, 50);
    assert.equal(kinds(ring).at(-1), 'cluster-stale', 'the ring keeps the cause, oldest last');
    assert.equal(ring[0]?.service, 'svc-199.default', 'and the newest failovers');
    assert.ok(kinds(events.recent(MAX_STATS_EVENTS)).includes('cluster-stale'), "the stats record's share");
    const otherGateway = events.recent(MAX_STATS_EVENTS).map((e) => ({ ...e, observer: 'aws-use1/gw-b' }));
    const shown = foldEvents([...ring, ...otherGateway]);
    assert.ok(shown.length <= 30);
    assert.deepEqual(
      shown.filter((e) => e.kind === 'cluster-stale').map((e) => e.observers),
      [['aws-use1/gw-a', 'aws-use1/gw-b']],
      "the dashboard shows the cluster's event once, seen by both gateways",
    );
  } finally {
    events.close();
  }
});

test("latestEvents: the fabric's own events keep up to half the places, service events the rest", () => {
  const list = (kinds: FabricEvent['kind'][]) => kinds.map((kind, i) => ({ kind, at: 1000 - i }));
  const take = (kinds: FabricEvent['kind'][], limit: number) =>
    latestEvents(list(kinds), limit).map((e) => e.at);
  const failovers = Array<FabricEvent['kind']>(6).fill('failover');
  const stale = Array<FabricEvent['kind']>(6).fill('cluster-stale');
  assert.deepEqual(take([...failovers, 'cluster-stale'], 4), [1000, 999, 998, 994], 'one cause behind many');
  assert.deepEqual(take([...stale, ...failovers], 4), [1000, 999, 994, 993], 'half each when both are many');
  assert.deepEqual(take([...stale, 'failover'], 4), [1000, 999, 998, 994], 'a class with few fills the rest');
  assert.deepEqual(take(failovers, 4), [1000, 999, 998, 997]);
  assert.deepEqual(take(['cluster-live'], 4), [1000]);
});

test("a failover policy's decisions reach the ring as they happen: a failover and failback within a second both count", () => {
  const view = new StaticFabricView([]);
  let now = 100_000;
  const events = new FabricEvents({ view, observer: 'aws-use1/gw-a', now: () => now });
  events.start();
  const policy = new FailoverPolicy({
    service: 'hello.default',
    cluster: LOCAL,
    locality: { cloud: 'aws', region: 'us-east-1' },
    policy: { mode: 'locality', order: [], priorities: {}, weights: {}, holdDownMs: 0, failbackRampMs: 0 },
    now: () => now,
    onEvent: (event) => events.report(fabricEventOfFailover(event)),
  });
  const candidates = (localHealthy: number): FailoverCandidate[] => [
    {
      name: LOCAL,
      locality: { cloud: 'aws', region: 'us-east-1' },
      freshness: 'live',
      healthyEndpoints: localHealthy,
      ejected: false,
    },
    {
      name: 'gcp-euw1',
      locality: { cloud: 'gcp', region: 'europe-west1' },
      freshness: 'live',
      healthyEndpoints: 2,
      ejected: false,
    },
  ];
  try {
    policy.evaluate(candidates(2));
    now += 200;
    policy.evaluate(candidates(0));
    now += 300;
    policy.evaluate(candidates(2));
    const [failback, failover] = events.recent();
    assert.deepEqual(
      [failover?.kind, failover?.at, failover?.from, failover?.to, failover?.reason],
      [
        'failover',
        100_200,
        LOCAL,
        'gcp-euw1',
        'aws-use1 has no healthy endpoint for hello.default; traffic moves to gcp-euw1',
      ],
    );
    assert.deepEqual(
      [failback?.kind, failback?.at, failback?.from, failback?.to],
      ['failback', 100_500, 'gcp-euw1', LOCAL],
    );
    assert.match(failback?.reason ?? '', /^aws-use1 healthy again for \d+ ms; hold-down 0 ms passed/);
    assert.equal(events.recent().length, 2, 'each move once');
  } finally {
    events.close();
  }
});

test("the failover policy's events read as fabric events: failover, failback and routing mode", () => {
  assert.deepEqual(
    fabricEventOfFailover({
      type: 'failover',
      service: 'hello.default',
      cluster: LOCAL,
      cause: 'no-healthy-endpoints',
      to: ['gcp-euw1', 'azure-weu'],
      reason: 'aws-use1 has no healthy endpoint for hello.default',
    }),
    {
      kind: 'failover',
      service: 'hello.default',
      cluster: LOCAL,
      from: LOCAL,
      to: 'gcp-euw1,azure-weu',
      reason: 'aws-use1 has no healthy endpoint for hello.default',
    },
  );
  assert.equal(
    fabricEventOfFailover({
      type: 'failover',
      service: 's',
      cluster: 'c',
      cause: 'gone',
      to: [],
      reason: 'r',
    }).to,
    null,
    'traffic that moves nowhere',
  );
  assert.deepEqual(
    fabricEventOfFailover({ type: 'failback', service: 's', cluster: 'c', from: ['d'], reason: 'r' }),
    { kind: 'failback', service: 's', cluster: 'c', from: 'd', to: 'c', reason: 'r' },
  );
  assert.deepEqual(
    fabricEventOfFailover({
      type: 'mode',
      service: 's',
      mode: 'stale',
      previous: 'normal',
      reason: 'no live cluster can serve',
    }),
    {
      kind: 'routing-mode',
      service: 's',
      from: 'normal',
      to: 'stale',
      reason: 'normal → stale: no live cluster can serve',
    },
  );
});

test('the dashboard folds one change seen by several gateways, never two events of one gateway', () => {
  const event = (
    observer: string,
    at: number,
    previous: FailoverMode,
    mode: FailoverMode,
    reason: string,
  ): FabricEvent => ({
    ...fabricEventOfFailover({ type: 'mode', service: 'hello.default', mode, previous, reason }),
    at,
    observer,
  });
  const folded = foldEvents([
    event('aws-use1/gw-a', 1000, 'normal', 'none', 'no cluster can serve'),
    event('aws-use1/gw-b', 1200, 'normal', 'none', 'no cluster can serve'),
    event('aws-use1/gw-a', 3000, 'none', 'normal', 'live clusters can serve again'),
  ]);
  assert.deepEqual(
    folded.map((e) => [e.at, e.reason, e.observers]),
    [
      [3000, 'none → normal: live clusters can serve again', ['aws-use1/gw-a']],
      [1200, 'normal → none: no cluster can serve', ['aws-use1/gw-b', 'aws-use1/gw-a']],
    ],
  );
});
