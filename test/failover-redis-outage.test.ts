// Failover while Redis is down, with real gateway processes: peer probes and outlier detection need no
// Redis, so with the redis-server frozen (SIGSTOP) or killed, a SIGKILLed remote gateway is still out of
// the route within 2 s and no idempotent request fails, routing on the last snapshot; when Redis returns
// (as it was, or restarted empty) the gateways catch up. hello runs in b, c and d; a calls it in that
// order (ordered failover), with a client sending a GET every 20 ms.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FailoverFabric, SteadyClient } from './helpers/failover-fabric.js';
import { waitFor } from './helpers/wait.js';

interface DiscoveryState {
  readonly connected: boolean;
  readonly snapshotAgeMs: number | null;
}

let fabric: FailoverFabric;

before(async () => {
  fabric = await FailoverFabric.start(
    [
      { name: 'a', host: '127.0.81.1', cloud: 'aws', region: 'us-east-1', instances: 0 },
      { name: 'b', host: '127.0.82.1', cloud: 'aws', region: 'us-east-1', instances: 1 },
      { name: 'c', host: '127.0.83.1', cloud: 'gcp', region: 'europe-west1', instances: 1 },
      { name: 'd', host: '127.0.84.1', cloud: 'azure', region: 'westeurope', instances: 1 },
    ],
    { mode: 'ordered', order: ['b', 'c', 'd'], holdDown: '2s', failbackRamp: '1s' },
  );
});

after(async () => {
  await fabric?.close();
});

function discoveryOf(cluster: string): Promise<DiscoveryState> {
  return fabric.admin<DiscoveryState>(cluster, '/api/v1/discovery');
}

/** Each cluster's freshness as gateway `cluster` sees it (live, stale; absent when evicted). */
async function freshnessSeenBy(cluster: string): Promise<Map<string, string>> {
  const body = await fabric.admin<{ clusters: { name: string; freshness: string }[] }>(
    cluster,
    '/api/v1/clusters',
  );
  return new Map(body.clusters.map((c) => [c.name, c.freshness]));
}

const redis = () => {
  assert.ok(fabric.redis);
  return fabric.redis;
};

test(
  'Redis frozen (SIGSTOP), then a remote gateway SIGKILLed: out within 2 s on the snapshot, 0 failed; Redis back → caught up',
  { timeout: 90_000 },
  async () => {
    const client = new SteadyClient(fabric.gateway('a').outbound);
    client.start();
    const at = { redisDown: 0, noticed: 0, fault: 0, detected: 0, redisBack: 0, caughtUp: 0 };
    let during: DiscoveryState | undefined;
    try {
      await client.waitServedBy('b', 20, 0, 20_000);
      at.redisDown = Date.now();
      redis().pause();
      await waitFor('a to notice Redis is gone', async () => !(await discoveryOf('a')).connected, 20_000);
      at.noticed = Date.now();
      at.fault = Date.now();
      await fabric.gateway('b').process.killAndWait();
      await waitFor('a to give b no share', async () => !(await fabric.shares('a')).has('b'), 10_000);
      at.detected = Date.now();
      await client.waitServedBy('c', 25, at.detected, 10_000);
      during = await discoveryOf('a');
      at.redisBack = Date.now();
      redis().resume();
      await waitFor(
        'a to catch up: connected, b no longer live, c and d live',
        async () => {
          const state = await discoveryOf('a');
          const seen = await freshnessSeenBy('a');
          return (
            state.connected &&
            (state.snapshotAgeMs ?? Infinity) < 1_000 &&
            seen.get('b') !== 'live' &&
            seen.get('c') === 'live' &&
            seen.get('d') === 'live'
          );
        },
        30_000,
      );
      at.caughtUp = Date.now();
      await client.waitServedBy('c', 25, at.caughtUp, 10_000);
    } finally {
      redis().resume();
      await client.stop();
    }
    const failed = client.failures();
    const detectionMs = at.detected - at.fault;
    console.log(
      `Redis SIGSTOP: a noticed after ${at.noticed - at.redisDown} ms; b SIGKILLed → detection ${detectionMs} ms (routing on a snapshot ${during?.snapshotAgeMs} ms old); Redis back → caught up in ${at.caughtUp - at.redisBack} ms; failed ${failed.length} of ${client.results.length}`,
    );
    assert.equal(during?.connected, false, 'the failover happened while Redis was still down');
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
    assert.ok(detectionMs <= 2_000, `detected after ${detectionMs} ms`);
    assert.equal(client.servedBy('b', at.detected + 50).length, 0, 'b served requests sent after detection');
  },
);

test(
  'Redis killed, then the serving gateway SIGKILLed: out within 2 s, 0 failed; Redis restarted empty → caught up',
  { timeout: 90_000 },
  async () => {
    const client = new SteadyClient(fabric.gateway('a').outbound);
    client.start();
    const at = { redisDown: 0, noticed: 0, fault: 0, detected: 0, redisBack: 0, caughtUp: 0 };
    try {
      await client.waitServedBy('c', 20, 0, 20_000);
      at.redisDown = Date.now();
      await redis().kill();
      await waitFor('a to notice Redis is gone', async () => !(await discoveryOf('a')).connected, 20_000);
      at.noticed = Date.now();
      at.fault = Date.now();
      await fabric.gateway('c').process.killAndWait();
      await waitFor('a to give c no share', async () => !(await fabric.shares('a')).has('c'), 10_000);
      at.detected = Date.now();
      await client.waitServedBy('d', 25, at.detected, 10_000);
      at.redisBack = Date.now();
      await redis().restart();
      await waitFor(
        'a to catch up with the empty Redis: connected, d live again',
        async () => {
          const state = await discoveryOf('a');
          const seen = await freshnessSeenBy('a');
          return state.connected && (state.snapshotAgeMs ?? Infinity) < 1_000 && seen.get('d') === 'live';
        },
        30_000,
      );
      at.caughtUp = Date.now();
      await client.waitServedBy('d', 25, at.caughtUp, 10_000);
    } finally {
      await client.stop();
    }
    const failed = client.failures();
    const detectionMs = at.detected - at.fault;
    console.log(
      `Redis SIGKILL: a noticed after ${at.noticed - at.redisDown} ms; c SIGKILLed → detection ${detectionMs} ms; Redis restarted empty → caught up in ${at.caughtUp - at.redisBack} ms; failed ${failed.length} of ${client.results.length}`,
    );
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
    assert.ok(detectionMs <= 2_000, `detected after ${detectionMs} ms`);
    assert.equal(client.servedBy('c', at.detected + 50).length, 0, 'c served requests sent after detection');
  },
);
