// Redis going away: gateways keep routing on their last snapshot and say how old it is, writes made
// meanwhile are kept (coalesced) and not lost, a gateway restarted during the outage routes from its
// disk snapshot, and everything converges when Redis comes back empty.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import { DiscoveryFixture, FAST_TIMINGS, exported, service } from './helpers/discovery-fixture.js';
import { standaloneRedis } from './helpers/standalone-redis.js';
import { waitFor, within } from './helpers/wait.js';

async function metric(registry: Registry, name: string): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return found?.values[0]?.value ?? NaN;
}

test('Redis outage: route on the snapshot, report its age, restart from disk, converge after', async (t) => {
  const { redis, fx } = await standaloneRedis(t);

  const a = fx.create('aws-use1', 'gw-a');
  a.setLocalServices([service('hello')]);
  await a.start();
  const registry = new Registry();
  const bOptions = fx.options('gcp-euw1', 'gw-b', { metrics: registry });
  const b = fx.create('gcp-euw1', 'gw-b', bOptions);
  b.setLocalServices([service('api')]);
  await b.start();
  await within('b sees a', 5000, () => exported(b, 'aws-use1', 'hello.default'));
  await within('a sees b', 5000, () => exported(a, 'gcp-euw1', 'api.default'));
  await waitFor('b wrote its disk snapshot', () => b.status().snapshotFile.lastWriteAt !== null, 5000);

  await redis.kill();
  await waitFor('b notices', () => !b.status().connected, 5000);
  await waitFor('a notices', () => !a.status().connected, 5000);
  assert.equal(b.view.snapshot().connected, false);
  assert.equal(b.status().mode, 'disconnected');

  // Writes during the outage are kept as the latest desired state.
  a.setLocalServices([service('hello'), service('world')]);
  a.setLocalServices([service('hello'), service('world', 0, 1)]);
  assert.ok(a.status().pendingWrites >= 1);
  assert.ok(exported(a, 'aws-use1', 'world.default'), 'a routes its own new export at once');

  // Well past the lease TTL: b still routes to a (nothing proves a is gone), and says how old that is.
  await waitFor(
    'snapshot older than the lease',
    () => (b.status().snapshotAgeMs ?? 0) > FAST_TIMINGS.leaseTtlMs + 500,
    5000,
  );
  const cluster = b.view.snapshot().clusters.get('aws-use1');
  assert.equal(cluster?.freshness, 'live');
  assert.ok(cluster?.services.get('hello.default'));
  assert.ok((await metric(registry, 'weft_discovery_snapshot_age_seconds')) > FAST_TIMINGS.leaseTtlMs / 1000);
  assert.equal(await metric(registry, 'weft_discovery_connected'), 0);

  // b restarts while Redis is still down: the new process routes from the disk snapshot.
  await b.close();
  const restartedAt = Date.now();
  const b2 = fx.create('gcp-euw1', 'gw-b', { ...bOptions, metrics: new Registry() });
  b2.setLocalServices([service('api')]);
  await b2.start();
  const startMs = Date.now() - restartedAt;
  console.log(
    `discovery restart during a Redis outage: start() resolved in ${startMs} ms from the disk snapshot`,
  );
  assert.ok(startMs < 3000, `start() took ${startMs} ms`);
  assert.equal(b2.synced, false);
  assert.equal(b2.status().source, 'disk');
  assert.equal(b2.view.snapshot().source, 'disk');
  assert.ok(exported(b2, 'aws-use1', 'hello.default'), 'the restarted gateway routes from disk');
  assert.equal(b2.view.snapshot().clusters.get('aws-use1')?.freshness, 'live');
  assert.ok((b2.status().snapshotAgeMs ?? 0) >= FAST_TIMINGS.leaseTtlMs, 'the age survives the restart');

  // Redis returns empty: registrations are written back, queued writes land, views converge.
  await redis.restart();
  await waitFor('b2 synced', () => b2.synced && b2.status().connected, 10_000);
  await within('b2 sees the write a made during the outage', 10_000, () =>
    exported(b2, 'aws-use1', 'world.default'),
  );
  assert.equal(exported(b2, 'aws-use1', 'world.default')?.endpoints.healthy, 0);
  await waitFor(
    'a sees b2',
    () => a.status().connected && exported(a, 'gcp-euw1', 'api.default') !== undefined,
    10_000,
  );
  await waitFor(
    'nothing pending',
    () => a.status().pendingWrites === 0 && b2.status().pendingWrites === 0,
    5000,
  );
  assert.equal(b2.status().source, 'redis');
  assert.ok((b2.status().snapshotAgeMs ?? Infinity) < 3000);
});

test('a corrupt disk snapshot is skipped with a reason; start() still resolves, bounded', async (t) => {
  const redis = await RedisServerProcess.start();
  const url = redis.url;
  await redis.stop();
  const fx = new DiscoveryFixture(() => ({ mode: 'standalone', url }));
  t.after(() => fx.close());
  const options = fx.options('aws-use1', 'gw-a', { startTimeoutMs: 800 });
  writeFileSync(options.snapshotFile, '{"format":"weft.discovery.snapshot","v":1,"savedAt":"yesterday"}');
  const a = fx.create('aws-use1', 'gw-a', options);
  const started = Date.now();
  await a.start();
  assert.ok(Date.now() - started < 2500);
  assert.equal(a.status().source, 'empty');
  assert.equal(a.status().skippedRecords.byReason.invalid_snapshot, 1);
  assert.equal(a.synced, false);
  assert.ok(a.view.snapshot().clusters.get('aws-use1'), 'the own cluster is always in the view');
});
