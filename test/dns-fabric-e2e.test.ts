// Global DNS failover end to end with real gateways: three `weft gateway` processes (one per cloud, on
// 127.0.1.1, 127.0.2.1, 127.0.3.1) share a real redis-server and each run the DNS publisher of their
// `dns:` section against a real BIND9 (RFC 2136 + TSIG). Every check is a real DNS query to BIND:
// - all three clouds are published in api.<zone> (multivalue) and the first in primary.<zone> (failover);
// - SIGKILL of a cloud's gateway removes its address within the discovery lease + one publish cycle;
// - its restart brings the address back only after the hold-down;
// - records weft does not own (one configured but pre-existing, one added by nsupdate) stay untouched;
// - SIGKILL of the DNS leader's gateway: another gateway takes over with a larger fencing token, claims the
//   zone's fence, and the logs show one writer per token, tokens only growing over time.
// The zone's SOA serial (BIND bumps it once per update that changes the zone) counts the writes: each is
// one write the publishers logged (a takeover adds its fence claim), so no write is doubled or unlogged,
// and each health change above is one write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import type { GatewaysResponse } from '../gateway/admin/index.js';
import { freePort } from '../gateway/demo/free-port.js';
import { GatewayProcess } from '../gateway/demo/gateway-process.js';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import { fromPackageRoot } from '../gateway/package-root.js';
import { dnsKeys, fenceName, ownershipName } from '../infra/index.js';
import { BindServer } from './helpers/bind-server.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { waitFor, within } from './helpers/wait.js';

const ZONE = 'fabric.test';
const OWNER = 'fabric-e2e';
const TRUST_DOMAIN = 'e2e.test';
/** Discovery: a killed gateway's cluster turns stale when its lease runs out. */
const LEASE_TTL_MS = 1500;
const HEARTBEAT_MS = 300;
/** DNS publisher: cycle, recovery hold-down, leader lease. */
const INTERVAL_MS = 500;
const HOLD_DOWN_MS = 3000;
const DNS_LEASE_TTL_MS = 1500;
/** Scheduling slack on a loaded 2-core machine, on top of the promised bounds. */
const MARGIN_MS = 2500;

const CLOUDS = [
  { name: 'aws-use1', cloud: 'aws', region: 'us-east-1', host: '127.0.1.1' },
  { name: 'gcp-euw1', cloud: 'gcp', region: 'europe-west1', host: '127.0.2.1' },
  { name: 'azr-weu', cloud: 'azure', region: 'westeurope', host: '127.0.3.1' },
] as const;
type Cloud = (typeof CLOUDS)[number];

const API = `api.${ZONE}`;
const PRIMARY = `primary.${ZONE}`;
/** In the zone before weft starts and configured in weft, but without weft's ownership TXT: not ours. */
const WWW = `www.${ZONE}`;
/** Added by an operator with nsupdate while the fabric runs. */
const OPS = `ops.${ZONE}`;

interface Running {
  readonly cloud: Cloud;
  readonly process: GatewayProcess;
  readonly adminUrl: string;
  readonly logFile: string;
}

interface LogEntry {
  readonly file: string;
  readonly at: number;
  readonly msg: string;
  readonly token?: number;
  readonly changes?: readonly string[];
  readonly err?: string;
}

async function readLog(file: string): Promise<LogEntry[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const entry = JSON.parse(line) as Omit<LogEntry, 'file' | 'at' | 'msg'> & {
        time?: string;
        msg?: string;
      };
      const at = Date.parse(entry.time ?? '');
      return Number.isFinite(at) && entry.msg ? [{ file, at, ...entry, msg: entry.msg }] : [];
    } catch {
      return [];
    }
  });
}

test(
  'DNS failover with real gateways and BIND9: kill, hold-down, foreign records, leader takeover',
  { timeout: 90_000 },
  async (t) => {
    // Torn down in reverse order of start: gateways, then the Redis client, BIND, Redis, the temp dir.
    const teardown: (() => unknown)[] = [];
    t.after(async () => {
      for (const step of teardown.reverse()) await Promise.resolve(step()).catch(() => undefined);
    });
    const dir = await mkdtemp(join(tmpdir(), 'weft-dns-e2e-'));
    teardown.push(() => rm(dir, { recursive: true, force: true }));
    const redisServer = await RedisServerProcess.start();
    teardown.push(() => redisServer.stop());
    const bind = await BindServer.start({ zone: ZONE, records: ['www 60 IN A 127.0.9.9'] });
    teardown.push(() => bind.stop());
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
    teardown.push(() => redis.disconnect());
    const pki = await createFabricPki(dir, {
      trustDomain: TRUST_DOMAIN,
      clusters: CLOUDS.map((c) => c.name),
    });

    bind.nsupdate([`update add ${OPS} 60 A 127.0.9.10`]);
    const targets = CLOUDS.map((c) => ({ cluster: c.name, addresses: [c.host] }));
    const dnsSection = {
      provider: {
        rfc2136: {
          server: `${bind.host}:${bind.port}`,
          zone: ZONE,
          tsig: { name: bind.keyName, algorithm: 'hmac-sha256', secret: bind.secret.toString('base64') },
          timeout: '2s',
        },
      },
      ownerId: OWNER,
      interval: `${INTERVAL_MS}ms`,
      holdDown: `${HOLD_DOWN_MS}ms`,
      leaseTtl: `${DNS_LEASE_TTL_MS}ms`,
      resyncInterval: '5s',
      records: [
        { name: API, ttl: 5, routing: 'multivalue', targets },
        { name: PRIMARY, ttl: 5, routing: 'failover', targets },
        { name: WWW, ttl: 5, routing: 'multivalue', targets },
      ],
    };

    const gateways: Running[] = [];
    teardown.push(() => Promise.all(gateways.map((g) => g.process.killAndWait())));
    for (const cloud of CLOUDS) {
      const port = () => freePort(cloud.host);
      const listen = {
        outbound: `${cloud.host}:${await port()}`,
        peer: `${cloud.host}:${await port()}`,
        admin: `${cloud.host}:${await port()}`,
        control: `${cloud.host}:${await port()}`,
      };
      const config = {
        cluster: cloud.name,
        locality: { cloud: cloud.cloud, region: cloud.region },
        trustDomain: TRUST_DOMAIN,
        redis: redisServer.url,
        tls: pki.pathsOf(cloud.name),
        listen,
        advertise: listen.peer,
        discovery: {
          leaseTtl: `${LEASE_TTL_MS}ms`,
          heartbeatInterval: `${HEARTBEAT_MS}ms`,
          staleFor: '10s',
          resyncInterval: '5s',
          snapshotFile: join(dir, `${cloud.name}-snapshot.json`),
        },
        drainTimeout: '1s',
        dns: dnsSection,
      };
      const configFile = join(dir, `${cloud.name}.yaml`);
      await writeFile(configFile, stringify(config));
      const logFile = join(dir, `${cloud.name}.log`);
      const adminUrl = `http://${listen.admin}`;
      const process = new GatewayProcess({
        cluster: cloud.name,
        configFile,
        logFile,
        adminUrl,
        entry: fromPackageRoot('gateway/cli/main.ts'),
      });
      gateways.push({ cloud, process, adminUrl, logFile });
    }
    await Promise.all(gateways.map((g) => g.process.start(40_000)));

    const query = (name: string) => bind.query(name, 'A');
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`${bind.host}:${bind.port}`]);
    const serial = async () => (await resolver.resolveSoa(ZONE)).serial;
    const gatewayOf = (cluster: string) => {
      const found = gateways.find((g) => g.cloud.name === cluster);
      assert.ok(found, `a gateway for ${cluster}`);
      return found;
    };
    const readLeader = async () => {
      const value = await redis.get(dnsKeys(OWNER).leader);
      const match = value ? /^(\S+) (\d+)$/.exec(value) : null;
      if (!match) return undefined;
      const instance = match[1] ?? '';
      return { instance, cluster: instance.split('/')[0] ?? '', token: Number(match[2]) };
    };
    /** What the publishers logged since `since` (epoch ms). */
    const publisherLog = async (since: number) =>
      (await Promise.all(gateways.map((g) => readLog(g.logFile))))
        .flat()
        .filter((e) => e.at >= since && e.msg.startsWith('dns '))
        .sort((a, b) => a.at - b.at);
    const describeLog = (entries: readonly LogEntry[]) =>
      entries
        .map((e) => {
          const what = e.changes?.join('; ') ?? e.err ?? (e.token === undefined ? '' : `token ${e.token}`);
          return `${new Date(e.at).toISOString()} ${e.file.slice(dir.length + 1)} ${e.msg} ${what}`;
        })
        .join('\n');
    /**
     * Every update of the zone since `serialBefore` is one write a publisher logged: a 'dns updated' line,
     * or a new leader's fence claim (its 'dns publisher leading' line). No write is doubled and none goes
     * unlogged. A cluster whose health flaps on a loaded machine (a heartbeat later than its lease), or a
     * lease that changes hands, adds writes of its own, logged like any other; callers check that the
     * change they caused is one write. `since` is read before `serialBefore`. Returns the writes and the
     * number of claims.
     */
    const assertOneUpdatePerWrite = async (since: number, serialBefore: number) => {
      let updates = 0;
      let writes: LogEntry[] = [];
      let claims = 0;
      const balanced = async () => {
        updates = (await serial()) - serialBefore;
        const log = await publisherLog(since);
        writes = log.filter((e) => e.msg === 'dns updated');
        claims = log.filter((e) => e.msg === 'dns publisher leading').length;
        return updates === writes.length + claims;
      };
      // A write's log line may land a moment after BIND has it.
      await waitFor('every zone update logged', balanced, 5000).catch(() => undefined);
      assert.equal(
        updates,
        writes.length + claims,
        `${updates} zone updates for ${writes.length} logged writes and ${claims} fence claims; the publishers logged:\n${describeLog(await publisherLog(since))}`,
      );
      return { writes, claims };
    };
    /** The writes that moved `host`: out of every record line it was on, or into one it was not on. */
    const moving = (writes: readonly LogEntry[], host: string, direction: 'out' | 'in') =>
      writes.filter((w) => {
        const lines = w.changes ?? [];
        const was = lines.some((l) => l.startsWith('  - ') && l.includes(host));
        const is = lines.some((l) => l.startsWith('  + ') && l.includes(host));
        return direction === 'out' ? was && !is : is && !was;
      });
    const assertForeignUntouched = async (when: string) => {
      assert.deepEqual(
        await query(WWW),
        ['127.0.9.9'],
        `${when}: the configured but foreign ${WWW} is untouched`,
      );
      assert.deepEqual(
        await bind.query(ownershipName({ name: WWW, type: 'A' }), 'TXT'),
        [],
        `${when}: weft never claimed ${WWW}`,
      );
      assert.deepEqual(await query(OPS), ['127.0.9.10'], `${when}: the operator's ${OPS} is untouched`);
    };

    // 1. The whole fabric is published (clusters that registered after the first cycle wait out hold-down).
    const all = CLOUDS.map((c) => c.host).sort();
    await waitFor('all three clouds in api', async () => (await query(API)).join() === all.join(), 30_000);
    assert.deepEqual(await query(PRIMARY), [CLOUDS[0].host], 'failover record on the first priority');
    assert.deepEqual(await bind.query(ownershipName({ name: API, type: 'A' }), 'TXT'), [
      `heritage=weft,weft/owner=${OWNER}`,
    ]);
    await assertForeignUntouched('published');
    const leader1 = await within('a DNS leader', 10_000, readLeader);

    // 2. SIGKILL a cloud that is not the leader (the failover primary when possible).
    const victim = gatewayOf(CLOUDS.find((c) => c.name !== leader1.cluster)?.name ?? '');
    const killFrom = Date.now();
    const serialBeforeKill = await serial();
    const killedAt = Date.now();
    await victim.process.killAndWait();
    await waitFor(
      `${victim.cloud.host} removed from api`,
      async () => !(await query(API)).includes(victim.cloud.host),
      20_000,
    );
    const removalMs = Date.now() - killedAt;
    const removalBound = LEASE_TTL_MS + INTERVAL_MS + MARGIN_MS;
    assert.ok(removalMs <= removalBound, `removed after ${removalMs} ms, bound ${removalBound} ms`);
    const survivors = all.filter((h) => h !== victim.cloud.host);
    assert.deepEqual(await query(API), survivors);
    const nextPrimary = CLOUDS.find((c) => c.name !== victim.cloud.name)?.host;
    await waitFor(
      'primary on the first healthy priority',
      async () => (await query(PRIMARY))[0] === nextPrimary,
      5000,
    );
    assert.deepEqual((await readLeader())?.instance, leader1.instance, 'the leader did not change');
    const { writes: killWrites } = await assertOneUpdatePerWrite(killFrom, serialBeforeKill);
    assert.equal(moving(killWrites, victim.cloud.host, 'out').length, 1, 'the withdrawal is one write');
    await assertForeignUntouched('after a kill');

    // 3. Restart it: back only after the hold-down, counted from no later than its registration.
    const restartAt = Date.now();
    const serialBeforeRestart = await serial();
    await victim.process.start(40_000);
    const self = await within('the restarted gateway in its own admin API', 10_000, async () => {
      const res = await fetch(`${victim.adminUrl}/api/v1/gateways`);
      const body = (await res.json()) as GatewaysResponse;
      return body.gateways.find((g) => g.self);
    });
    const leaderGateway = gatewayOf(leader1.cluster);
    let seenLiveAt: number | undefined;
    await waitFor(
      `${victim.cloud.host} back in api`,
      async () => {
        if (seenLiveAt === undefined) {
          const res = await fetch(`${leaderGateway.adminUrl}/api/v1/gateways`);
          const body = (await res.json()) as GatewaysResponse;
          if (body.gateways.some((g) => g.id === self.id && g.freshness === 'live')) seenLiveAt = Date.now();
        }
        return (await query(API)).join() === all.join();
      },
      HOLD_DOWN_MS + 20_000,
    );
    const restoredAt = Date.now();
    // startedAt is taken before the gateway registers, so before the leader can have seen it healthy.
    const restoreMs = restoredAt - self.startedAt;
    assert.ok(
      restoreMs >= HOLD_DOWN_MS,
      `restored ${restoreMs} ms after the gateway started, hold-down ${HOLD_DOWN_MS} ms`,
    );
    assert.deepEqual(await query(PRIMARY), [CLOUDS[0].host], 'failover record back on the first priority');
    const { writes: restartWrites } = await assertOneUpdatePerWrite(restartAt, serialBeforeRestart);
    assert.equal(moving(restartWrites, victim.cloud.host, 'in').length, 1, 'the recovery is one write');
    await assertForeignUntouched('after recovery');

    // 4. SIGKILL the DNS leader: another gateway takes over with a newer token and fences the zone.
    const leader2 = await within('the current leader', 5000, readLeader);
    const oldLeader = gatewayOf(leader2.cluster);
    const takeoverFrom = Date.now();
    const serialBeforeTakeover = await serial();
    const leaderKilledAt = Date.now();
    await oldLeader.process.killAndWait();
    const leader3 = await within('another gateway leads', 20_000, async () => {
      const now = await readLeader();
      return now && now.instance !== leader2.instance ? now : undefined;
    });
    const takeoverMs = Date.now() - leaderKilledAt;
    assert.ok(leader3.token > leader2.token, `token ${leader3.token} follows ${leader2.token}`);
    assert.notEqual(leader3.cluster, leader2.cluster);
    const takeoverBound = DNS_LEASE_TTL_MS + DNS_LEASE_TTL_MS / 3 + MARGIN_MS;
    assert.ok(takeoverMs <= takeoverBound, `takeover after ${takeoverMs} ms, bound ${takeoverBound} ms`);
    const fence = `weft/owner=${OWNER},weft/fence=${leader3.token},weft/leader=${leader3.instance}`;
    await waitFor(
      'the new leader claims the fence',
      async () => (await bind.query(fenceName(ZONE, OWNER), 'TXT')).includes(fence),
      10_000,
    );
    assert.deepEqual(await bind.query(fenceName(ZONE, OWNER), 'TXT'), [fence], 'one fence, one leader');
    const remaining = all.filter((h) => h !== oldLeader.cloud.host);
    await waitFor(
      'the dead leader removed from api',
      async () => (await query(API)).join() === remaining.join(),
      20_000,
    );
    const leaderRemovalMs = Date.now() - leaderKilledAt;
    // A takeover writes twice: the new leader's fence claim, then the withdrawal of the dead leader's cloud.
    const takeover = await assertOneUpdatePerWrite(takeoverFrom, serialBeforeTakeover);
    const takeoverWrites = takeover.writes;
    assert.ok(takeover.claims >= 1, 'the new leader claimed the fence');
    assert.equal(
      moving(takeoverWrites, oldLeader.cloud.host, 'out').length,
      1,
      'the dead leader is withdrawn in one write',
    );
    await assertForeignUntouched('after the leader was killed');

    // 5. One writer at a time: every write carries the token its gateway was leading with, no token has
    //    two leaders, and a write never carries an older token than one written before it. A SIGKILLed
    //    gateway may lose its last log lines, so the logs are a lower bound; the serial counts are exact.
    const entries = (await Promise.all(gateways.map((g) => readLog(g.logFile)))).flat();
    const leading = entries.filter((e) => e.msg === 'dns publisher leading' && typeof e.token === 'number');
    const writes = entries
      .filter((e) => e.msg === 'dns updated' && typeof e.token === 'number')
      .sort((a, b) => a.at - b.at);
    const leaderFileOf = new Map<number, string>();
    for (const e of leading) {
      const file = leaderFileOf.get(e.token ?? -1);
      assert.ok(file === undefined || file === e.file, `token ${e.token} led by one gateway only`);
      leaderFileOf.set(e.token ?? -1, e.file);
    }
    assert.ok(writes.length >= 3, `writes logged: ${writes.length}`);
    let highest = 0;
    for (const w of writes) {
      assert.equal(
        leaderFileOf.get(w.token ?? -1),
        w.file,
        `write with token ${w.token} by the gateway that led with it`,
      );
      assert.ok((w.token ?? 0) >= highest, `write with token ${w.token} after one with ${highest}`);
      highest = w.token ?? 0;
    }
    const newLeaderWrites = writes.filter((w) => w.token === leader3.token).flatMap((w) => w.changes ?? []);
    assert.ok(
      newLeaderWrites.every((line) => !line.startsWith('  + ') || !line.includes(oldLeader.cloud.host)),
      `the new leader only withdraws the dead cloud, rewriting nothing in sync:\n${newLeaderWrites.join('\n')}`,
    );

    console.log(
      `# DNS e2e: cloud SIGKILL → address gone in ${removalMs} ms (lease ${LEASE_TTL_MS} + cycle ${INTERVAL_MS}); ` +
        `restart → back ${restoreMs} ms after start, ${seenLiveAt === undefined ? '?' : restoredAt - seenLiveAt} ms after the leader saw it live (hold-down ${HOLD_DOWN_MS}); ` +
        `leader SIGKILL → new leader in ${takeoverMs} ms (token ${leader2.token} → ${leader3.token}), its address gone in ${leaderRemovalMs} ms; ` +
        `zone updates per step (kill, recovery, takeover): ${killWrites.length}, ${restartWrites.length}, ${takeoverWrites.length + takeover.claims}`,
    );
  },
);
