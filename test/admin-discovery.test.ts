// The admin API over a real Discovery on a real redis-server: readiness follows the first sync, the
// clusters and services views show what another cluster registered, and Redis going away shows up as a
// disconnected, ageing snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Discovery } from '../discovery/index.js';
import { type ClustersResponse, type DiscoveryJson, type ServicesResponse } from '../gateway/admin/index.js';
import { testAdmin } from './helpers/admin-fixture.js';
import { service } from './helpers/discovery-fixture.js';
import { standaloneRedis } from './helpers/standalone-redis.js';
import { waitFor, within } from './helpers/wait.js';

async function getJson<T>(base: string, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

test('admin over a real Discovery: readiness, clusters, services and a Redis outage', async (t) => {
  const { redis, fx } = await standaloneRedis(t);

  const remote = fx.create('gcp-euw1', 'gw-1');
  remote.setLocalServices([service('hello', 1, 2, { allow: ['aws-use1'] })]);
  await remote.start();

  const local: Discovery = fx.create('aws-use1', 'gw-a');
  const admin = testAdmin({
    ready: () => local.synced,
    view: local.view,
    discoveryStatus: () => local.status(),
  });
  await admin.start();
  t.after(() => admin.close());
  const base = `http://127.0.0.1:${admin.address().port}`;

  const before = await getJson<{ status: string; reason: string }>(base, '/readyz');
  assert.equal(before.status, 503);
  assert.match(before.body.reason, /discovery has not synced with Redis yet/);

  await local.start();
  assert.equal((await getJson(base, '/readyz')).status, 200);

  await waitFor('both clusters in the view', () => local.view.snapshot().clusters.size === 2, 5000);
  const clusters = (await getJson<ClustersResponse>(base, '/api/v1/clusters')).body.clusters;
  assert.deepEqual(
    clusters.map((c) => [c.name, c.local, c.freshness, c.gateways.map((g) => [g.id, g.self])]),
    [
      ['aws-use1', true, 'live', [['gw-a', true]]],
      ['gcp-euw1', false, 'live', [['gw-1', false]]],
    ],
  );
  const remoteLease = clusters[1]?.gateways[0]?.leaseRemainingMs;
  assert.ok(
    remoteLease !== null && remoteLease !== undefined && remoteLease > 0,
    'the remote lease is counting down',
  );

  const services = (await getJson<ServicesResponse>(base, '/api/v1/services')).body.services;
  assert.deepEqual(services, [
    {
      service: 'hello.default',
      name: 'hello',
      namespace: 'default',
      protocol: 'http',
      clusters: [
        {
          cluster: 'gcp-euw1',
          local: false,
          freshness: 'live',
          protocol: 'http',
          allow: ['aws-use1'],
          endpoints: { total: 2, healthy: 1 },
        },
      ],
    },
  ]);

  const live = (await getJson<DiscoveryJson>(base, '/api/v1/discovery')).body;
  assert.equal(live.connected, true);
  assert.equal(live.source, 'redis');
  assert.deepEqual(live.clusters, { live: 2, stale: 0 });
  assert.equal((live.status as { mode: string }).mode, 'live');

  await redis.kill();
  const down = await within('the admin API to report the Redis outage', 15_000, async () => {
    const body = (await getJson<DiscoveryJson>(base, '/api/v1/discovery')).body;
    return body.connected ? undefined : body;
  });
  assert.equal((down.status as { mode: string }).mode, 'disconnected');
  assert.notEqual(down.snapshotAgeMs, null);
  // Still routing on the last snapshot: both clusters listed, still ready.
  const kept = (await getJson<ClustersResponse>(base, '/api/v1/clusters')).body.clusters;
  assert.deepEqual(
    kept.map((c) => c.name),
    ['aws-use1', 'gcp-euw1'],
  );
  assert.equal((await getJson(base, '/readyz')).status, 200);
});
