// Passive outlier detection follows the catalog and the fabric: a data plane declares each service's local
// endpoints, the clusters exporting each service and each cluster's gateways, and forgets what left. After
// the first rebuild it declares only the groups a change touched (OutlierDetector.update), so this checks
// that every kind of change still reaches the groups; OutlierDetector.update and forget are checked below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView } from '../discovery/index.js';
import { OutlierDetector, OutlierTracker } from '../gateway/resilience/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { clusterView } from './helpers/static-fabric-view.js';
import { waitFor } from './helpers/wait.js';

const OPTIONS = {
  consecutiveLocalOriginFailures: 3,
  consecutive5xx: 5,
  baseEjectionMs: 5_000,
  maxEjectionMs: 60_000,
  maxEjectionPercent: 50,
  failurePercentage: { threshold: 0, minRequests: 20, windowMs: 10_000 },
};

/**
 * Waits until `detector` holds `expected` (group → members): a rebuild comes on the next turn, or later
 * when the one before took long (pacing).
 */
async function holds(detector: OutlierDetector, expected: Record<string, string[]>): Promise<void> {
  const wanted = JSON.stringify(expected);
  await waitFor(`groups ${wanted}`, () => JSON.stringify(groups(detector)) === wanted, 5_000);
}

/** group → members, sorted, as a detector holds them. */
function groups(detector: OutlierDetector): Record<string, string[]> {
  return Object.fromEntries(
    detector
      .state()
      .map((g) => [g.group, g.memberStates.map((m) => m.member).sort()] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

test('a data plane declares the members of what changed, and forgets what left', async (t) => {
  const outliers = new OutlierTracker(OPTIONS);
  const fabric = await TestFabric.start(
    [
      {
        cluster: 'a',
        host: '127.0.99.1',
        services: [
          { name: 's1', endpoints: ['127.0.99.2:1'] },
          { name: 's2', endpoints: ['127.0.99.2:2'] },
        ],
      },
    ],
    { outliers, retirement: { retireAfterMs: 300 } },
  );
  t.after(() => fabric.close());
  const own = fabric.view.snapshot().clusters.get('a') as ClusterView;
  /** The view with a remote cluster b exporting `services`, its gateway on an address nobody serves. */
  const publishB = (...services: string[]) => {
    const b = clusterView({
      name: 'b',
      gateways: [{ id: 'gw-1', leaseExpiresAt: Date.now() + 60_000 }],
      services: services.map((key) => ({ key })),
    });
    const gateways = b.gateways.map((g) => ({ ...g, peerAddress: '127.0.99.9:1' }));
    fabric.view.publish([own, { ...b, gateways }]);
  };
  publishB('s2.default', 's3.default');
  await holds(outliers.clusters, { 's2.default': ['b'], 's3.default': ['b'] });
  assert.deepEqual(groups(outliers.endpoints), {
    's1.default': ['127.0.99.2:1'],
    's2.default': ['127.0.99.2:2'],
  });
  assert.deepEqual(groups(outliers.gateways), { b: ['b/gw-1@127.0.99.9:1'] });

  const catalog = fabric.gateway('a').catalog;
  const endpoint = { host: '127.0.99.2', port: 3, weight: 1 };
  const grown = catalog.register('test', {
    name: 's1',
    namespace: 'default',
    protocol: 'http',
    endpoints: [endpoint],
  });
  const added = catalog.register('test', {
    name: 's4',
    namespace: 'default',
    protocol: 'http',
    endpoints: [endpoint],
  });
  await holds(outliers.endpoints, {
    's1.default': ['127.0.99.2:1', '127.0.99.2:3'],
    's2.default': ['127.0.99.2:2'],
    's4.default': ['127.0.99.2:3'],
  });
  catalog.deregister(grown);
  catalog.deregister(added);
  await holds(outliers.endpoints, { 's1.default': ['127.0.99.2:1'], 's2.default': ['127.0.99.2:2'] });
  // An attempt that started before s4 left reports late: ignored, until s4 retires and is forgotten.
  outliers.endpoints.report('s4.default', '127.0.99.2:3', 'local-origin');
  assert.equal(groups(outliers.endpoints)['s4.default'], undefined, 'a late outcome brings no member back');
  await waitFor(
    's4 forgotten once retired',
    () => {
      outliers.endpoints.report('s4.default', '127.0.99.2:3', 'local-origin');
      return groups(outliers.endpoints)['s4.default'] !== undefined;
    },
    5_000,
  );
  outliers.endpoints.forget(['s4.default']);

  publishB('s2.default', 's5.default');
  await holds(outliers.clusters, { 's2.default': ['b'], 's5.default': ['b'] });
  fabric.view.publish([own]);
  await holds(outliers.clusters, {});
  assert.deepEqual(groups(outliers.gateways), {});
});

test('update declares the groups listed and leaves the others; an emptied group ignores late reports until forgotten', () => {
  const d = new OutlierDetector({ ...OPTIONS, now: () => 0 });
  d.retain(
    new Map([
      ['kept', ['k1']],
      ['changed', ['c1', 'c2']],
      ['gone', ['g1']],
    ]),
  );
  d.report('kept', 'k1', 'local-origin');
  d.update(
    new Map([
      ['changed', ['c2', 'c3']],
      ['gone', []],
      ['new', ['n1']],
    ]),
  );
  assert.deepEqual(groups(d), { changed: ['c2', 'c3'], kept: ['k1'], new: ['n1'] });
  assert.equal(d.state().find((g) => g.group === 'kept')?.memberStates[0]?.consecutiveLocalOriginFailures, 1);
  d.report('changed', 'ghost', 'local-origin');
  assert.deepEqual(groups(d).changed, ['c2', 'c3'], 'a declared group ignores a member it does not have');
  d.report('gone', 'g1', 'local-origin');
  assert.equal(groups(d).gone, undefined, 'a late outcome of a member that left does not bring it back');
  d.forget(['gone']);
  d.report('gone', 'g1', 'local-origin');
  assert.deepEqual(groups(d).gone, ['g1'], 'forgotten with its declaration: undeclared groups take reports');
});
