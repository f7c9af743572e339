// Lease countdowns and sync age in the admin API stay current between snapshots. Discovery publishes a
// new snapshot only when the fabric changes, not on lease renewals, so the admin reads lease ends live
// (Discovery.leaseOf) and the sync age from discovery's status. Over a real Discovery on a real
// redis-server: across many heartbeats without a new snapshot, a live remote gateway's lease keeps a
// positive remaining time, this gateway's own lease is known, and snapshotAgeMs stays small.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type DiscoveryJson, type GatewayJson, type GatewaysResponse } from '../gateway/admin/index.js';
import { testAdmin } from './helpers/admin-fixture.js';
import { FAST_TIMINGS, service } from './helpers/discovery-fixture.js';
import { standaloneRedis } from './helpers/standalone-redis.js';
import { waitFor } from './helpers/wait.js';

async function getJson<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}${path}`);
  assert.equal(res.status, 200, `GET ${path}`);
  return (await res.json()) as T;
}

function find(gateways: readonly GatewayJson[], cluster: string, id: string): GatewayJson {
  const found = gateways.find((g) => g.cluster === cluster && g.id === id);
  assert.ok(found, `${cluster}/${id} is listed`);
  return found;
}

test('admin lease countdowns and sync age stay current between snapshots', async (t) => {
  const { fx } = await standaloneRedis(t);

  const remote = fx.create('gcp-euw1', 'gw-1');
  remote.setLocalServices([service('hello')]);
  await remote.start();
  const local = fx.create('aws-use1', 'gw-a');
  await local.start();

  const admin = testAdmin({
    ready: () => local.synced,
    view: local.view,
    discoveryStatus: () => local.status(),
    leaseOf: (cluster, id) => local.leaseOf(cluster, id),
  });
  await admin.start();
  t.after(() => admin.close());
  const base = `http://127.0.0.1:${admin.address().port}`;

  await waitFor(
    'the remote gateway live in the view',
    () =>
      local.view
        .snapshot()
        .clusters.get('gcp-euw1')
        ?.gateways.some((g) => g.freshness === 'live') === true,
    5000,
  );
  assert.equal(local.leaseOf('nowhere', 'gw-9'), undefined, 'an unknown gateway has no lease');
  const snapshot = local.view.snapshot();
  const frozenRemote = snapshot.clusters.get('gcp-euw1')?.gateways[0]?.leaseExpiresAt ?? 0;

  // Sample for two lease lifetimes: the snapshot's lease ends have run out by then, the live ones not.
  const until = Date.now() + 2 * FAST_TIMINGS.leaseTtlMs + 500;
  let samples = 0;
  while (Date.now() < until || samples < 5) {
    const { gateways } = await getJson<GatewaysResponse>(base, '/api/v1/gateways');
    const remoteGw = find(gateways, 'gcp-euw1', 'gw-1');
    const own = find(gateways, 'aws-use1', 'gw-a');
    assert.equal(remoteGw.freshness, 'live');
    assert.ok(
      remoteGw.leaseRemainingMs !== null && remoteGw.leaseRemainingMs > 0,
      `the live remote lease counts down from a renewed end (remaining ${remoteGw.leaseRemainingMs} ms)`,
    );
    assert.ok(
      remoteGw.leaseRemainingMs <= FAST_TIMINGS.leaseTtlMs + 1000,
      'no more than one lease TTL ahead',
    );
    assert.ok(
      own.self && own.leaseRemainingMs !== null && own.leaseRemainingMs > 0,
      `this gateway's own lease is known (remaining ${own.leaseRemainingMs} ms)`,
    );
    const discovery = await getJson<DiscoveryJson>(base, '/api/v1/discovery');
    assert.ok(
      discovery.snapshotAgeMs !== null && discovery.snapshotAgeMs < FAST_TIMINGS.leaseTtlMs,
      `the sync age follows discovery's last contact with Redis (${discovery.snapshotAgeMs} ms)`,
    );
    samples++;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }

  // All of that without republishing: the snapshot is the one taken before sampling, with its lease
  // end and sync time long past, which is what the admin API showed before it read them live.
  assert.equal(local.view.snapshot(), snapshot, 'lease renewals published no new snapshot');
  assert.ok(frozenRemote < Date.now(), "the snapshot's own copy of the remote lease end has passed");
  assert.ok(snapshot.syncedAt !== null && Date.now() - snapshot.syncedAt > FAST_TIMINGS.leaseTtlMs);
  const live = local.leaseOf('gcp-euw1', 'gw-1');
  assert.ok(live !== undefined && live > frozenRemote, 'Discovery.leaseOf has the renewed lease end');
});
