// Discovery through Redis Sentinel: gateways find the master through three real sentinels, and when the
// master is killed they follow the failover to the promoted replica and keep propagating changes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { KEY_PREFIX } from '../discovery/index.js';
import { DiscoveryFixture, exported, service } from './helpers/discovery-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { MASTER_NAME, RedisSentinelSetup } from './helpers/redis-sentinel.js';

test('Sentinel: discovery survives a master failover', { timeout: 60_000 }, async (t) => {
  const setup = await RedisSentinelSetup.start();
  t.after(() => setup.stop());
  const fx = new DiscoveryFixture(() => ({
    mode: 'sentinel',
    sentinels: setup.sentinels,
    name: MASTER_NAME,
    db: 0,
  }));
  t.after(() => fx.close());

  const a = fx.create('aws-use1', 'gw-a');
  a.setLocalServices([service('hello', 1, 1)]);
  await a.start();
  const b = await fx.start('gcp-euw1', 'gw-b');
  assert.equal(b.synced, true);
  assert.match(b.status().redis, /^sentinel weft via /);
  await within('b sees a through sentinel', 5000, () => exported(b, 'aws-use1', 'hello.default'));

  const oldMaster = await setup.masterAddress();
  assert.equal(oldMaster.port, setup.master.port);
  const killedAt = Date.now();
  await setup.master.kill();
  const newMaster = await setup.waitForFailover(oldMaster.port);
  assert.equal(newMaster.port, setup.replica.port, 'the replica was promoted');
  const failoverMs = Date.now() - killedAt;

  // A change made after the failover reaches b through the new master.
  a.setLocalServices([service('hello', 0, 1), service('world')]);
  await within('b sees the change via the new master', 20_000, () =>
    exported(b, 'aws-use1', 'world.default'),
  );
  const convergedMs = Date.now() - killedAt;
  console.log(
    `discovery sentinel failover: promoted after ${failoverMs} ms, converged after ${convergedMs} ms`,
  );
  assert.equal(exported(b, 'aws-use1', 'hello.default')?.endpoints.healthy, 0);
  await waitFor('both connected', () => a.status().connected && b.status().connected, 10_000);
  const promoted = new Redis(newMaster.port, newMaster.host);
  t.after(() => promoted.disconnect());
  await waitFor(
    'both gateways registered on the new master',
    async () => {
      return (await promoted.hlen(`${KEY_PREFIX}gateways`)) === 2;
    },
    5000,
  );
});
