// Discovery on a real Redis Cluster: every registry key lives in one hash slot (scripts and pipelines
// work), gateways seeded with any node find it, and changes propagate as on a single server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { KEY_PREFIX } from '../discovery/index.js';
import { DiscoveryFixture, exported, service } from './helpers/discovery-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { RedisClusterSetup } from './helpers/redis-cluster.js';

test('Redis Cluster: registry in one slot, propagation across gateways', { timeout: 60_000 }, async (t) => {
  const cluster = await RedisClusterSetup.start(3);
  t.after(() => cluster.stop());
  const probe = new Redis(cluster.nodes[0]?.port ?? 0, '127.0.0.1');
  t.after(() => probe.disconnect());
  const slot = Number(await probe.cluster('KEYSLOT', `${KEY_PREFIX}gateways`));
  const slots = await probe.cluster('SLOTS');
  const owner = slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  const other = cluster.nodes.find((n) => n.port !== owner);
  assert.ok(owner && other);

  // a is seeded with every node, b only with a node that does not own the registry's slot.
  const fx = new DiscoveryFixture(() => ({ mode: 'cluster', nodes: cluster.seeds }));
  t.after(() => fx.close());
  const a = fx.create('aws-use1', 'gw-a');
  a.setLocalServices([service('hello')]);
  await a.start();
  const b = await fx.start('gcp-euw1', 'gw-b', {
    redis: { mode: 'cluster', nodes: [{ host: other.host, port: other.port }] },
  });
  assert.equal(b.synced, true);
  await within('b sees a', 5000, () => exported(b, 'aws-use1', 'hello.default'));
  await waitFor('a sees b', () => a.view.snapshot().clusters.has('gcp-euw1'), 5000);

  const delays: number[] = [];
  for (let i = 1; i <= 20; i++) {
    const started = performance.now();
    a.setLocalServices([service('hello', i % 2, 1), service(`svc${i}`)]);
    await within(`change ${i}`, 5000, () => exported(b, 'aws-use1', `svc${i}.default`));
    delays.push(performance.now() - started);
  }
  delays.sort((x, y) => x - y);
  console.log(
    `discovery propagation on Redis Cluster: p50 ${delays[9]?.toFixed(1)} ms, max ${delays.at(-1)?.toFixed(1)} ms`,
  );
  assert.ok((delays.at(-1) ?? Infinity) < 1000);

  // Every key is on the slot owner; the other nodes hold none.
  for (const node of cluster.nodes) {
    const client = new Redis(node.port, node.host);
    const size = await client.dbsize();
    client.disconnect();
    if (node.port === owner) assert.ok(size >= 5, `owner holds ${size} keys`);
    else assert.equal(size, 0, `node ${node.port} holds registry keys`);
  }
  assert.equal(a.status().pendingWrites, 0);
  assert.equal(b.status().skippedRecords.total, 0);
});
