// End to end against a real BIND9 and a real redis-server: a three-cloud fabric publishes api.<zone> through
// RFC 2136 with TSIG; health changes show up in real DNS answers; foreign records stay untouched; a killed
// leader is replaced; a stale leader is fenced off both in Redis and by the zone itself.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import type { InfraError } from '../infra/index.js';
import {
  DnsPublisher,
  LeaderLease,
  dnsKeys,
  PublisherStateStore,
  Rfc2136Provider,
  fenceName,
  ownershipName,
  planDns,
  type ClusterHealth,
  type DnsPublisherEvent,
  type DnsRecordSpec,
} from '../infra/index.js';
import { BindServer } from './helpers/bind-server.js';
import type { PublisherChildOptions } from './helpers/dns-publisher-child.js';
import { waitFor, within } from './helpers/wait.js';

const ZONE = 'example.test';
const INTERVAL_MS = 400;
const HOLD_DOWN_MS = 1500;
const LEASE_TTL_MS = 1500;

const CLOUDS = [
  { cluster: 'aws-use1', addresses: ['127.0.1.10'], priority: 1, weight: 1 },
  { cluster: 'gcp-euw1', addresses: ['127.0.2.10'], priority: 2, weight: 1 },
  { cluster: 'azr-weu', addresses: ['127.0.3.10'], priority: 3, weight: 1 },
];
const API: DnsRecordSpec = { name: `api.${ZONE}`, type: 'A', ttl: 5, routing: 'multivalue', targets: CLOUDS };
const PRIMARY: DnsRecordSpec = {
  name: `primary.${ZONE}`,
  type: 'A',
  ttl: 5,
  routing: 'failover',
  targets: CLOUDS,
};
/** Exists in the zone file without an ownership TXT: someone else's. */
const WWW: DnsRecordSpec = { name: `www.${ZONE}`, type: 'A', ttl: 5, routing: 'multivalue', targets: CLOUDS };

const health = (down: readonly string[] = []): ClusterHealth[] =>
  CLOUDS.map((c) => ({ cluster: c.cluster, healthy: !down.includes(c.cluster) }));

describe('DNS failover publisher over RFC 2136 (BIND9)', () => {
  let redisServer: RedisServerProcess;
  let bind: BindServer;
  const clients: Redis[] = [];
  const redis = () => {
    const client = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
    clients.push(client);
    return client;
  };
  const provider = (secret = bind.secret) =>
    new Rfc2136Provider({
      server: { host: bind.host, port: bind.port },
      zone: ZONE,
      tsig: { name: bind.keyName, algorithm: 'hmac-sha256', secret },
    });
  const publisher = (records: readonly DnsRecordSpec[], instanceId: string, ownerId = 'fabric-1') =>
    new DnsPublisher({
      redis: redis(),
      provider: provider(),
      ownerId,
      instanceId,
      records,
      intervalMs: INTERVAL_MS,
      holdDownMs: HOLD_DOWN_MS,
      leaseTtlMs: LEASE_TTL_MS,
    });

  before(async () => {
    redisServer = await RedisServerProcess.start();
    bind = await BindServer.start({ zone: ZONE, records: ['www 60 IN A 127.0.9.9'] });
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await bind?.stop();
    await redisServer?.stop();
  });

  it('publishes the healthy clouds, follows health with hold-down, and never withdraws everything', async (t) => {
    const pub = publisher([API, PRIMARY, WWW], 'gw-a');
    t.after(() => pub.close());
    const events: DnsPublisherEvent[] = [];
    pub.subscribe((e) => events.push(e));
    pub.start();
    pub.setHealth(health());

    await waitFor(
      'all three clouds in api',
      async () => (await bind.query(API.name, 'A')).length === 3,
      8000,
    );
    assert.deepEqual(await bind.query(API.name, 'A'), ['127.0.1.10', '127.0.2.10', '127.0.3.10']);
    assert.deepEqual(await bind.query(PRIMARY.name, 'A'), ['127.0.1.10']);
    assert.deepEqual(await bind.query(ownershipName(API), 'TXT'), ['heritage=weft,weft/owner=fabric-1']);
    assert.deepEqual(await bind.query(WWW.name, 'A'), ['127.0.9.9'], 'the foreign record is untouched');
    assert.deepEqual(await bind.query(ownershipName(WWW), 'TXT'), []);
    assert.match(pub.status().foreign.join('\n'), /www\.example\.test A: not owned by fabric-1/);

    // A cloud goes down: gone from the answers within one cycle.
    const downAt = Date.now();
    pub.setHealth(health(['gcp-euw1']));
    await waitFor(
      'gcp removed',
      async () => !(await bind.query(API.name, 'A')).includes('127.0.2.10'),
      INTERVAL_MS + 3000,
    );
    const removalMs = Date.now() - downAt;
    assert.deepEqual(await bind.query(API.name, 'A'), ['127.0.1.10', '127.0.3.10']);

    // The failover record moves to the next priority when the primary cloud fails.
    pub.setHealth(health(['gcp-euw1', 'aws-use1']));
    await waitFor(
      'primary fails over to azr',
      async () => (await bind.query(PRIMARY.name, 'A'))[0] === '127.0.3.10',
      8000,
    );

    // Recovery waits out the hold-down.
    const upAt = Date.now();
    pub.setHealth(health());
    await pub.syncNow();
    assert.deepEqual(await bind.query(API.name, 'A'), ['127.0.3.10'], 'still held down right after recovery');
    assert.deepEqual(
      pub
        .status()
        .heldDown.map((h) => h.cluster)
        .sort(),
      ['aws-use1', 'gcp-euw1'],
    );
    await waitFor(
      'all clouds back',
      async () => (await bind.query(API.name, 'A')).length === 3,
      HOLD_DOWN_MS + 4000,
    );
    const restoreMs = Date.now() - upAt;
    assert.ok(restoreMs >= HOLD_DOWN_MS, `restored after ${restoreMs}ms, hold-down is ${HOLD_DOWN_MS}ms`);
    assert.deepEqual(await bind.query(PRIMARY.name, 'A'), ['127.0.1.10']);

    // Split-brain guard: every cloud looks down, the last healthy set stays and the publisher says so.
    pub.setHealth(health(['aws-use1', 'gcp-euw1', 'azr-weu']));
    await pub.syncNow();
    assert.deepEqual(await bind.query(API.name, 'A'), ['127.0.1.10', '127.0.2.10', '127.0.3.10']);
    assert.deepEqual(pub.status().heldRecords, [`${API.name} A`, `${PRIMARY.name} A`, `${WWW.name} A`]);
    const held = events.find((e) => e.type === 'held');
    assert.ok(held?.type === 'held' && /keeping the last healthy set/.test(held.messages[0] ?? ''));
    assert.deepEqual(await bind.query(WWW.name, 'A'), ['127.0.9.9']);

    // The state in Redis names what weft owns, for the next leader.
    const state = await new PublisherStateStore(redis(), 'fabric-1').load();
    assert.deepEqual(state?.owned.map((k) => k.name).sort(), [API.name, PRIMARY.name]);
    await pub.close();
    console.log(
      `# cloud down → removed from DNS in ${removalMs}ms; recovery → restored in ${restoreMs}ms (hold-down ${HOLD_DOWN_MS}ms)`,
    );
  });

  it('deletes records it owns that are no longer configured, and only those', async (t) => {
    const pub = publisher([API], 'gw-b');
    t.after(() => pub.close());
    pub.start();
    pub.setHealth(health());
    await waitFor('primary removed', async () => (await bind.query(PRIMARY.name, 'A')).length === 0, 8000);
    assert.deepEqual(await bind.query(ownershipName(PRIMARY), 'TXT'), []);
    assert.equal((await bind.query(API.name, 'A')).length, 3);
    assert.deepEqual(await bind.query(WWW.name, 'A'), ['127.0.9.9']);
    await pub.close();
  });

  it('a killed leader is replaced by another publisher, which rewrites nothing and fences the old one', async (t) => {
    const ownerId = 'fabric-2';
    const records = [{ ...API, name: `api2.${ZONE}` }];
    const childOptions: PublisherChildOptions = {
      redisUrl: redisServer.url,
      dns: { host: bind.host, port: bind.port, zone: ZONE },
      tsig: { name: bind.keyName, secretBase64: bind.secret.toString('base64') },
      ownerId,
      instanceId: 'child-a',
      records,
      intervalMs: INTERVAL_MS,
      holdDownMs: HOLD_DOWN_MS,
      leaseTtlMs: LEASE_TTL_MS,
    };
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/helpers/dns-publisher-child.ts', JSON.stringify(childOptions)],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const childEvents: { type: string; token?: number; at: number }[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) =>
      childEvents.push(JSON.parse(line) as never),
    );
    try {
      child.stdin!.write(`${JSON.stringify(health())}\n`);
      await within('child publishes', 20_000, () => childEvents.find((e) => e.type === 'applied'));
      assert.equal((await bind.query(`api2.${ZONE}`, 'A')).length, 3);
      const childToken = childEvents.find((e) => e.type === 'leader')?.token ?? 0;

      const standby = publisher(records, 'gw-standby', ownerId);
      t.after(() => standby.close());
      const events: DnsPublisherEvent[] = [];
      standby.subscribe((e) => events.push(e));
      standby.start();
      standby.setHealth(health());
      await new Promise((r) => setTimeout(r, INTERVAL_MS * 2));
      assert.equal(standby.status().role, 'follower');

      const killedAt = Date.now();
      child.kill('SIGKILL');
      await once(child, 'exit');
      const leader = await within('standby takes over', LEASE_TTL_MS + 4000, () =>
        events.find((e) => e.type === 'leader'),
      );
      const takeoverMs = Date.now() - killedAt;
      assert.ok(leader.type === 'leader' && leader.token > childToken, 'a newer fencing token');
      await waitFor('standby synced', () => standby.status().lastSyncAt !== undefined, 8000);
      assert.equal(events.filter((e) => e.type === 'applied').length, 0, 'in-sync records are not rewritten');
      assert.deepEqual(await bind.query(fenceName(ZONE, ownerId), 'TXT'), [
        `weft/owner=${ownerId},weft/fence=${leader.token},weft/leader=gw-standby`,
      ]);

      standby.setHealth(health(['azr-weu']));
      await waitFor(
        'standby applies',
        async () => (await bind.query(`api2.${ZONE}`, 'A')).length === 2,
        8000,
      );
      await standby.close();
      console.log(`# leader SIGKILLed → standby leads after ${takeoverMs}ms (lease TTL ${LEASE_TTL_MS}ms)`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('a paused ex-leader cannot write: Redis refuses its token and the zone fence refuses its batch', async (t) => {
    const ownerId = 'fabric-3';
    const name = `api3.${ZONE}`;
    // A's clock stands still, as in a process paused (GC, SIGSTOP) while it believed it led.
    const stale = new LeaderLease({
      redis: redis(),
      ownerId,
      instanceId: 'paused',
      ttlMs: 300,
      monotonicNow: () => 0,
    });
    await stale.step();
    const staleToken = stale.current()?.token ?? 0;
    assert.ok(staleToken > 0);
    const staleProvider = provider();
    assert.deepEqual(await staleProvider.claimFence(ownerId, { token: staleToken, instanceId: 'paused' }), {
      claimed: true,
    });

    t.after(() => stale.destroy());
    const fresh = publisher([{ ...API, name }], 'fresh', ownerId);
    t.after(() => fresh.close());
    fresh.start();
    fresh.setHealth(health());
    await waitFor('fresh leader publishes', async () => (await bind.query(name, 'A')).length === 3, 8000);
    assert.ok((fresh.status().token ?? 0) > staleToken);

    await assert.rejects(stale.assertHeld(), (err: InfraError) => err.code === 'DNS_NOT_LEADER');
    const plan = await planDns({
      provider: staleProvider,
      ownerId,
      records: [{ ...API, name }],
      up: new Set(['aws-use1']),
    });
    assert.equal(plan.units.length, 1, 'the stale leader would remove two clouds');
    await assert.rejects(
      staleProvider.applyBatch(plan.units, ownerId, { token: staleToken, instanceId: 'paused' }),
      (err: InfraError) => err.code === 'DNS_CONFLICT',
    );
    assert.equal((await bind.query(name, 'A')).length, 3, 'nothing was written');
    const saved = await new PublisherStateStore(redis(), ownerId).save({
      version: 1,
      token: staleToken,
      instanceId: 'paused',
      appliedAt: Date.now(),
      owned: [],
      records: [],
      gate: {},
    });
    assert.equal(saved, false, 'the stale leader cannot record state');
    stale.destroy();
    await fresh.close();
  });

  it('a corrupt saved state in Redis is reported and replaced, never trusted', async (t) => {
    const ownerId = 'fabric-5';
    const name = `api5.${ZONE}`;
    await redis().set(dnsKeys(ownerId).state, '{"version":1,"owned":"everything"');
    const pub = publisher([{ ...API, name }], 'gw-5', ownerId);
    t.after(() => pub.close());
    const errors: string[] = [];
    pub.subscribe((e) => e.type === 'error' && errors.push(e.error.message));
    pub.start();
    pub.setHealth(health());
    await waitFor('published', async () => (await bind.query(name, 'A')).length === 3, 8000);
    assert.ok(
      errors.some((m) => /state in Redis is not JSON; delete it to start afresh/.test(m)),
      errors.join('\n'),
    );
    await waitFor(
      'state replaced',
      async () => (await new PublisherStateStore(redis(), ownerId).load())?.owned.length === 1,
      8000,
    );
  });

  it('a wrong TSIG secret is a clear error, not a crash', async (t) => {
    const bad = provider(Buffer.from('not-the-secret-not-the-secret-00'));
    await assert.rejects(
      bad.readRecords([{ name: API.name, type: 'A' }]),
      (err: InfraError) => err.code === 'DNS_PROVIDER' && /BADSIG/.test(err.message),
    );
    const pub = new DnsPublisher({
      redis: redis(),
      provider: bad,
      ownerId: 'fabric-4',
      instanceId: 'bad-key',
      records: [API],
      intervalMs: INTERVAL_MS,
      leaseTtlMs: LEASE_TTL_MS,
    });
    t.after(() => pub.close());
    const errors: Error[] = [];
    pub.subscribe((e) => e.type === 'error' && errors.push(e.error));
    pub.start();
    pub.setHealth(health());
    await waitFor('error reported', () => errors.length > 0, 8000);
    assert.match(pub.status().lastError ?? '', /BADSIG/);
    await pub.close();
  });
});
