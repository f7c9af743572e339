// Discovery against a real standalone redis-server: registration through setLocalServices, change
// propagation (measured), corrupt and foreign records, graceful deregistration → stale → evicted (with an
// injected clock), leaving while a registration read is in flight, FLUSHALL self-healing, and bad input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Discovery, DiscoveryError, KEY_PREFIX, type FabricSnapshot } from '../discovery/index.js';
import { Registration } from '../discovery/registration.js';
import { exported, service } from './helpers/discovery-fixture.js';
import { standaloneRedisSuite } from './helpers/standalone-redis.js';
import { waitFor, within } from './helpers/wait.js';

async function metric(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = found?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? NaN;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

describe('discovery on standalone Redis', () => {
  const suite = standaloneRedisSuite();

  test('services registered via setLocalServices are seen by another gateway with gateway and locality', async () => {
    const a = suite.fx.create('aws-use1', 'gw-a');
    a.setLocalServices([service('hello', 2, 3, { ports: [8080] }), service('db', 1, 1, { protocol: 'tcp' })]);
    // The own cluster is in the view at once, before any Redis round trip.
    assert.equal(exported(a, 'aws-use1', 'hello.default')?.endpoints.healthy, 2);
    await a.start();
    const b = await suite.fx.start('gcp-euw1', 'gw-b');
    assert.equal(b.synced, true);
    const seen = await within('b sees aws-use1/hello', 5000, () => exported(b, 'aws-use1', 'hello.default'));
    assert.deepEqual(seen.endpoints, { total: 3, healthy: 2 });
    assert.deepEqual(seen.ports, [8080]);
    assert.equal(exported(b, 'aws-use1', 'db.default')?.protocol, 'tcp');
    const cluster = b.view.snapshot().clusters.get('aws-use1');
    assert.equal(cluster?.freshness, 'live');
    assert.deepEqual(cluster?.locality, { cloud: 'aws', region: 'aws-use1-region' });
    assert.equal(cluster?.gateways[0]?.id, 'gw-a');
    assert.equal(cluster?.gateways[0]?.peerAddress, '127.0.1.1:4143');
    // b's own cluster is in its view too, and a sees b.
    assert.ok(b.view.snapshot().clusters.get('gcp-euw1'));
    await within('a sees gcp-euw1', 5000, () => a.view.snapshot().clusters.get('gcp-euw1'));
    // Removing a service removes it everywhere.
    a.setLocalServices([service('hello', 2, 3, { ports: [8080] })]);
    await waitFor('db gone from b', () => exported(b, 'aws-use1', 'db.default') === undefined, 5000);
    assert.equal(b.status().mode, 'live');
    assert.equal(a.status().pendingWrites, 0);
  });

  test('a change is seen by another gateway within 1 s (p99 over 40 changes)', async () => {
    const a = await suite.fx.start('aws-use1', 'gw-a');
    const b = await suite.fx.start('gcp-euw1', 'gw-b');
    a.setLocalServices([service('hello', 0, 50)]);
    await within('b sees hello', 5000, () => exported(b, 'aws-use1', 'hello.default'));
    const delays: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const seen = new Promise<number>((resolve) => {
        const started = performance.now();
        const stop = b.view.subscribe((snapshot: FabricSnapshot) => {
          if (snapshot.clusters.get('aws-use1')?.services.get('hello.default')?.endpoints.healthy === i) {
            stop();
            resolve(performance.now() - started);
          }
        });
        a.setLocalServices([service('hello', i, 50)]);
      });
      delays.push(await seen);
    }
    delays.sort((x, y) => x - y);
    const p50 = percentile(delays, 50);
    const p99 = percentile(delays, 99);
    console.log(
      `discovery change propagation (in-process, standalone): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${delays.at(-1)?.toFixed(1)} ms`,
    );
    assert.ok(p99 < 1000, `p99 ${p99} ms`);
  });

  test('corrupt and foreign records are skipped with a reason and counted; valid ones still route', async () => {
    const a = await suite.fx.start('aws-use1', 'gw-a');
    a.setLocalServices([service('hello')]);
    await waitFor('a registered', () => a.status().pendingWrites === 0, 5000);
    const v1 = (o: object) => JSON.stringify({ v: 1, ...o });
    await suite.raw
      .multi()
      .hset(`${KEY_PREFIX}gateways`, 'no-slash', '{}')
      .hset(`${KEY_PREFIX}gateways`, 'evil/gw', '{not json')
      .hset(`${KEY_PREFIX}gateways`, 'future/gw', JSON.stringify({ v: 2, anything: true }))
      .hset(
        `${KEY_PREFIX}gateways`,
        'liar/gw',
        v1({ cluster: 'aws-use1', id: 'gw-a', peerAddress: '10.9.9.9:1', startedAt: 1, version: 'x' }),
      )
      .hset(
        `${KEY_PREFIX}gateways`,
        'badaddr/gw',
        v1({ cluster: 'badaddr', id: 'gw', peerAddress: 'no port', startedAt: 1, version: 'x' }),
      )
      .hset(`${KEY_PREFIX}svc:aws-use1/gw-a`, 'broken.default', v1({ name: 'broken', namespace: 'default' }))
      .exec();
    const registry = new Registry();
    const b = await suite.fx.start('gcp-euw1', 'gw-b', { metrics: registry });
    assert.equal(b.synced, true);
    assert.ok(exported(b, 'aws-use1', 'hello.default'), 'the valid record still routes');
    assert.equal(exported(b, 'aws-use1', 'broken.default'), undefined);
    for (const cluster of ['evil', 'future', 'liar', 'badaddr'])
      assert.equal(b.view.snapshot().clusters.has(cluster), false);
    const byReason = b.status().skippedRecords.byReason;
    assert.equal(byReason.bad_key, 1);
    assert.equal(byReason.invalid_json, 1);
    assert.equal(byReason.foreign_version, 1);
    assert.equal(byReason.key_mismatch, 1);
    assert.equal(byReason.invalid_schema, 2);
    assert.equal(
      await metric(registry, 'weft_discovery_records_skipped_total', { reason: 'invalid_schema' }),
      2,
    );

    // On the live feed: a garbage entry, then an entry naming a garbage service record. Neither crashes;
    // the gateway resynchronises and keeps following changes.
    await suite.raw.xadd(`${KEY_PREFIX}feed`, '*', 'seq', 'oops', 'kind', 'nonsense');
    await suite.raw.hset(`${KEY_PREFIX}svc:aws-use1/gw-a`, 'worse.default', '\u0000garbage');
    const seq = await suite.raw.incr(`${KEY_PREFIX}seq`);
    await suite.raw.xadd(
      `${KEY_PREFIX}feed`,
      '*',
      'seq',
      seq,
      'kind',
      'services',
      'gk',
      'aws-use1/gw-a',
      'keys',
      '["worse.default"]',
    );
    await waitFor(
      'feed entry skipped',
      () => (b.status().skippedRecords.byReason.invalid_feed_entry ?? 0) >= 1,
      5000,
    );
    a.setLocalServices([service('hello', 0, 1)]);
    await waitFor(
      'b follows later changes',
      () => exported(b, 'aws-use1', 'hello.default')?.endpoints.healthy === 0,
      5000,
    );
    assert.ok((b.status().skippedRecords.byReason.invalid_json ?? 0) >= 2, 'the garbage service was skipped');
    assert.equal(b.status().connected, true);
  });

  test('a closed gateway is stale at once, a last resort for staleFor, then evicted (injected clock)', async () => {
    let skewMs = 0;
    const registry = new Registry();
    const a = await suite.fx.start('aws-use1', 'gw-a', { metrics: registry, now: () => Date.now() + skewMs });
    const b = await suite.fx.start('gcp-euw1', 'gw-b');
    b.setLocalServices([service('api', 2, 2)]);
    await within('a sees gcp api', 5000, () => exported(a, 'gcp-euw1', 'api.default'));
    assert.equal(await metric(registry, 'weft_discovery_clusters', { freshness: 'live' }), 2);

    await b.close();
    const stale = await within('gcp-euw1 stale', 5000, () => {
      const cluster = a.view.snapshot().clusters.get('gcp-euw1');
      return cluster?.freshness === 'stale' ? cluster : undefined;
    });
    assert.ok(stale.staleSince !== undefined && stale.staleSince <= Date.now() + 50);
    assert.equal(stale.gateways[0]?.freshness, 'stale');
    assert.ok(stale.services.get('api.default'), 'stale services stay visible as a last resort');
    const status = a.status();
    assert.deepEqual(status.clusters.live, ['aws-use1']);
    assert.equal(status.clusters.stale[0]?.name, 'gcp-euw1');
    assert.equal(status.clusters.stale[0]?.evictAt, (stale.staleSince ?? 0) + 4000);
    assert.equal(await metric(registry, 'weft_discovery_clusters', { freshness: 'stale' }), 1);

    skewMs = 4000 + 1000; // past staleFor on a's clock only
    await waitFor('gcp-euw1 evicted', () => !a.view.snapshot().clusters.has('gcp-euw1'), 5000);
    assert.equal(a.status().clusters.evicted[0]?.name, 'gcp-euw1');
    assert.equal(await metric(registry, 'weft_discovery_evictions_total'), 1);
    assert.equal(await metric(registry, 'weft_discovery_clusters', { freshness: 'stale' }), 0);
    // a's own cluster is never judged stale, whatever its clock says.
    assert.equal(a.view.snapshot().clusters.get('aws-use1')?.freshness, 'live');
  });

  test('a gateway that leaves is stale at once for the others and stays so, while its own view follows the fabric', async () => {
    const a = await suite.fx.start('aws-use1', 'gw-a');
    const b = await suite.fx.start('gcp-euw1', 'gw-b');
    b.setLocalServices([service('api', 2, 2)]);
    await within('a sees gcp api', 5000, () => exported(a, 'gcp-euw1', 'api.default'));

    await b.leave();
    await within('gcp-euw1 stale', 5000, () =>
      a.view.snapshot().clusters.get('gcp-euw1')?.freshness === 'stale' ? true : undefined,
    );
    const lease = b.leaseOf('gcp-euw1', 'gw-b') ?? Infinity;
    assert.ok(lease <= Date.now() + 1000, 'b reports its own lease as ended');
    const c = await suite.fx.start('azure-weu', 'gw-c');
    c.setLocalServices([service('jobs', 1, 1)]);
    await within('b, left, still sees azure jobs', 5000, () => exported(b, 'azure-weu', 'jobs.default'));
    // Meanwhile b's heartbeats would have renewed the lease several times: it stayed ended.
    assert.equal(a.view.snapshot().clusters.get('gcp-euw1')?.freshness, 'stale');
    assert.equal(b.leaseOf('gcp-euw1', 'gw-b'), lease);
    await b.close();
  });

  test('a registration read still in flight when the gateway leaves does not register it again', async (t) => {
    const client = new Redis(suite.redis.url);
    t.after(() => client.disconnect());
    await client.ping();
    const gk = 'aws-use1/gw-late';
    const registration = new Registration({
      client,
      cluster: 'aws-use1',
      gk,
      clusterJson: JSON.stringify({ v: 1, name: 'aws-use1' }),
      gatewayJson: JSON.stringify({ v: 1, cluster: 'aws-use1', id: 'gw-late' }),
      leaseTtlMs: 60_000,
      heartbeatIntervalMs: 60_000,
      resyncIntervalMs: 60_000,
      feedMaxLen: 100,
      readyWaitMs: 1000,
      logger: pino({ level: 'silent' }),
      now: Date.now,
      onLease: () => undefined,
      onError: () => undefined,
    });
    const leaving = new AbortController();
    t.after(() => leaving.abort());
    // Redis freezes, so the first registration's read of the gateway's records waits on the wire.
    suite.redis.pause();
    t.after(() => suite.redis.resume());
    registration.start(leaving.signal);
    await new Promise((settle) => setImmediate(settle));
    // The gateway leaves (Discovery.leave stops registration first), then Redis answers the read.
    leaving.abort();
    suite.redis.resume();
    // Two round trips on the same connection: a registration written after the read's answer is ahead of
    // the second one.
    await client.ping();
    await new Promise((settle) => setImmediate(settle));
    await client.ping();
    assert.equal(await suite.raw.zscore(`${KEY_PREFIX}leases`, gk), null, 'no lease written after leaving');
    assert.equal(
      await suite.raw.hget(`${KEY_PREFIX}gateways`, gk),
      null,
      'no gateway record written after leaving',
    );
  });

  test('replicas of one cluster: the union of live replicas, a closed replica leaves, the cluster stays', async () => {
    const r1 = await suite.fx.start('aws-use1', 'gw-1');
    const r2 = await suite.fx.start('aws-use1', 'gw-2');
    r1.setLocalServices([service('hello', 1, 1), service('old')]);
    r2.setLocalServices([service('hello', 2, 2), service('new')]);
    const b = await suite.fx.start('gcp-euw1', 'gw-b');
    const cluster = await within('union of both replicas', 5000, () => {
      const c = b.view.snapshot().clusters.get('aws-use1');
      return c?.gateways.length === 2 && c.services.size === 3 ? c : undefined;
    });
    assert.deepEqual([...cluster.services.keys()].sort(), ['hello.default', 'new.default', 'old.default']);
    // On conflict the most recently started replica wins.
    assert.equal(cluster.services.get('hello.default')?.endpoints.healthy, 2);
    await r2.close();
    const after = await within('r2 stale, its exports gone', 5000, () => {
      const c = b.view.snapshot().clusters.get('aws-use1');
      return c && !c.services.has('new.default') ? c : undefined;
    });
    assert.equal(after.freshness, 'live');
    assert.deepEqual(
      after.gateways.map((g) => [g.id, g.freshness]),
      [
        ['gw-1', 'live'],
        ['gw-2', 'stale'],
      ],
    );
    assert.equal(after.services.get('hello.default')?.endpoints.healthy, 1);
  });

  test('after FLUSHALL every gateway writes its records back and views converge without a gap', async () => {
    const a = await suite.fx.start('aws-use1', 'gw-a');
    const b = await suite.fx.start('gcp-euw1', 'gw-b');
    a.setLocalServices([service('hello'), service('world')]);
    b.setLocalServices([service('api')]);
    await within('b sees a', 5000, () => exported(b, 'aws-use1', 'world.default'));
    await within('a sees b', 5000, () => exported(a, 'gcp-euw1', 'api.default'));
    let lostA = false;
    const stop = b.view.subscribe((s) => {
      if (!s.clusters.get('aws-use1')?.services.has('world.default')) lostA = true;
    });
    const syncsBefore = b.status().fullSyncs;
    await suite.raw.flushall();
    await waitFor(
      'both gateways back in Redis',
      async () => (await suite.raw.hlen(`${KEY_PREFIX}gateways`)) === 2,
      5000,
    );
    await waitFor(
      'services back',
      async () => (await suite.raw.hlen(`${KEY_PREFIX}svc:aws-use1/gw-a`)) === 2,
      5000,
    );
    await waitFor('b resynchronised', () => b.status().fullSyncs > syncsBefore, 5000);
    a.setLocalServices([service('hello'), service('world', 0, 1)]);
    await waitFor(
      'b follows a after the flush',
      () => exported(b, 'aws-use1', 'world.default')?.endpoints.healthy === 0,
      5000,
    );
    stop();
    assert.equal(lostA, false, 'b never lost a during the flush');
    assert.equal(a.status().pendingWrites, 0);
  });

  test('bad input: invalid options and invalid local services are rejected with a clear error', async () => {
    const base = suite.fx.options('aws-use1');
    const bad: Array<[string, object]> = [
      ['cluster', { cluster: 'Not_A_Label' }],
      ['gatewayId', { gatewayId: 'has space' }],
      ['peerAddress', { peerAddress: 'nowhere' }],
      ['heartbeatIntervalMs', { heartbeatIntervalMs: 5000, leaseTtlMs: 1000 }],
      ['snapshotFile', { snapshotFile: '' }],
      ['locality', { locality: { cloud: '' } }],
    ];
    for (const [field, patch] of bad) {
      assert.throws(
        () => new Discovery({ ...base, ...patch }),
        (err: unknown) =>
          err instanceof DiscoveryError && err.code === 'OPTIONS_INVALID' && err.message.includes(field),
        field,
      );
    }
    const a = await suite.fx.start('aws-use1');
    a.setLocalServices([service('hello')]);
    const invalid = [
      [service('Bad_Name')],
      [{ ...service('hello'), key: 'other.default' }],
      [service('hello'), service('hello')],
      [service('hello', 5, 1)],
      [{ ...service('hello'), protocol: 'ftp' as 'http' }],
      [service('hello', 1, 1, { ports: [70000] })],
    ];
    for (const services of invalid) {
      assert.throws(
        () => a.setLocalServices(services),
        (err: unknown) => err instanceof DiscoveryError && err.code === 'RECORD_INVALID',
      );
    }
    assert.ok(exported(a, 'aws-use1', 'hello.default'), 'the previous set stays');
    await a.close();
    await a.close();
    assert.equal(a.status().mode, 'closed');
  });
});
