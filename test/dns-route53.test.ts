// The Route 53 provider at the SDK boundary (aws-sdk-client-mock): exact change batches for failover and
// weighted routing, ownership and fence records, throttling retries with backoff, pacing under 5 req/s,
// health checks and INSYNC waits. The mock holds a small in-memory hosted zone that validates batches the
// way Route 53 does (CREATE of an existing set, DELETE of a set that differs: the whole batch fails).
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  Route53Client,
  Route53ServiceException,
  type Change,
  type ChangeResourceRecordSetsCommandInput,
  type ListResourceRecordSetsCommandInput,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import {
  Route53Provider,
  applyDnsPlan,
  planDns,
  type DnsClock,
  type DnsRecordSpec,
  type FenceHolder,
  type InfraError,
  type Route53ProviderOptions,
} from '../infra/index.js';

const ZONE = 'example.com';
const OWNER = 'fabric-1';
const HOLDER: FenceHolder = { token: 7, instanceId: 'gw-a' };
const CLOUDS = [
  { cluster: 'aws-use1', addresses: ['198.51.100.10'], priority: 1, weight: 70 },
  { cluster: 'gcp-euw1', addresses: ['198.51.100.20', '198.51.100.21'], priority: 2, weight: 20 },
  { cluster: 'azr-weu', addresses: ['198.51.100.30'], priority: 3, weight: 10 },
];
const FAILOVER: DnsRecordSpec = {
  name: `api.${ZONE}`,
  type: 'A',
  ttl: 30,
  routing: 'failover',
  targets: CLOUDS,
};
const WEIGHTED: DnsRecordSpec = {
  name: `web.${ZONE}`,
  type: 'A',
  ttl: 60,
  routing: 'weighted',
  targets: CLOUDS,
};

const FENCE: ResourceRecordSet = {
  Name: `_weft-fence-${OWNER}.${ZONE}.`,
  Type: 'TXT',
  TTL: 60,
  ResourceRecords: [{ Value: `"weft/owner=${OWNER},weft/fence=7,weft/leader=gw-a"` }],
};
const ownerTxt = (name: string, ttl: number, type: 'a' | 'aaaa' = 'a'): ResourceRecordSet => ({
  Name: `_weft-${type}.${name}.`,
  Type: 'TXT',
  TTL: ttl,
  ResourceRecords: [{ Value: `"heritage=weft,weft/owner=${OWNER}"` }],
});
const FENCE_ASSERT: Change[] = [
  { Action: 'DELETE', ResourceRecordSet: FENCE },
  { Action: 'CREATE', ResourceRecordSet: FENCE },
];

/** A hosted zone with Route 53's batch semantics: sequential validation, all-or-nothing. */
class FakeHostedZone {
  sets = new Map<string, ResourceRecordSet>();
  changeCount = 0;

  add(set: ResourceRecordSet): void {
    this.sets.set(FakeHostedZone.key(set), set);
  }

  list(input: ListResourceRecordSetsCommandInput) {
    const found = [...this.sets.values()].filter(
      (s) => s.Name === input.StartRecordName && s.Type === input.StartRecordType,
    );
    return { ResourceRecordSets: found, IsTruncated: false, MaxItems: 100 };
  }

  change(input: ChangeResourceRecordSetsCommandInput) {
    const next = new Map(this.sets);
    for (const change of input.ChangeBatch?.Changes ?? []) {
      const set = change.ResourceRecordSet!;
      const key = FakeHostedZone.key(set);
      const existing = next.get(key);
      if (change.Action === 'CREATE' && existing)
        throw invalid(`Tried to create ${key} but it already exists`);
      if (change.Action === 'DELETE' && (!existing || !isDeepStrictEqual(existing, set))) {
        throw invalid(`Tried to delete ${key} but it was not found`);
      }
      if (change.Action === 'DELETE') next.delete(key);
      else next.set(key, set);
    }
    this.sets = next;
    return {
      ChangeInfo: {
        Id: `/change/C${++this.changeCount}`,
        Status: 'PENDING' as const,
        SubmittedAt: new Date(0),
      },
    };
  }

  static key(set: ResourceRecordSet): string {
    return `${set.Name} ${set.Type} ${set.SetIdentifier ?? ''}`;
  }
}

function invalid(message: string) {
  return new InvalidChangeBatch({ message, $metadata: { httpStatusCode: 400 }, messages: [message] });
}

function serviceError(name: string, status: number) {
  return new Route53ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });
}

class FakeClock implements DnsClock {
  t = 1_000_000;
  sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

describe('Route 53 provider', () => {
  const r53 = mockClient(Route53Client);
  let zone: FakeHostedZone;
  let clock: FakeClock;

  beforeEach(() => {
    r53.reset();
    zone = new FakeHostedZone();
    clock = new FakeClock();
    r53
      .on(ListResourceRecordSetsCommand)
      .callsFake((input: ListResourceRecordSetsCommandInput) => zone.list(input));
    r53
      .on(ChangeResourceRecordSetsCommand)
      .callsFake((input: ChangeResourceRecordSetsCommandInput) => zone.change(input));
  });
  afterEach(() => r53.reset());

  const provider = (options: Partial<Route53ProviderOptions> = {}) =>
    new Route53Provider({
      hostedZoneId: '/hostedzone/Z0123456789ABC',
      zone: ZONE,
      clock,
      backoff: { random: () => 1 },
      requestsPerSecond: 0,
      ...options,
    });

  const batches = () =>
    r53.commandCalls(ChangeResourceRecordSetsCommand).map((c) => c.args[0].input.ChangeBatch?.Changes);

  async function sync(p: Route53Provider, records: readonly DnsRecordSpec[], up: readonly string[]) {
    const plan = await planDns({ provider: p, ownerId: OWNER, records, up: new Set(up) });
    await applyDnsPlan(plan, { provider: p, ownerId: OWNER, assertLeader: () => Promise.resolve(HOLDER) });
    return plan;
  }

  it('failover: PRIMARY and SECONDARY for the two best healthy clouds, with ownership and fence records', async () => {
    const p = provider();
    assert.deepEqual(await p.claimFence(OWNER, HOLDER), { claimed: true });
    await sync(p, [FAILOVER], ['aws-use1', 'gcp-euw1', 'azr-weu']);
    const primary = (values: string[]): ResourceRecordSet => ({
      Name: 'api.example.com.',
      Type: 'A',
      TTL: 30,
      ResourceRecords: values.map((Value) => ({ Value })),
      SetIdentifier: 'weft-primary',
      Failover: 'PRIMARY',
    });
    const secondary = (values: string[]): ResourceRecordSet => ({
      ...primary(values),
      SetIdentifier: 'weft-secondary',
      Failover: 'SECONDARY',
    });
    assert.deepEqual(batches(), [
      [{ Action: 'CREATE', ResourceRecordSet: FENCE }],
      [
        ...FENCE_ASSERT,
        { Action: 'CREATE', ResourceRecordSet: ownerTxt('api.example.com', 30) },
        { Action: 'CREATE', ResourceRecordSet: primary(['198.51.100.10']) },
        { Action: 'CREATE', ResourceRecordSet: secondary(['198.51.100.20', '198.51.100.21']) },
      ],
    ]);
    assert.equal(
      r53.commandCalls(ChangeResourceRecordSetsCommand)[1]?.args[0].input.HostedZoneId,
      'Z0123456789ABC',
    );

    // The primary cloud fails: gcp becomes PRIMARY, azr SECONDARY, in one atomic batch.
    await sync(p, [FAILOVER], ['gcp-euw1', 'azr-weu']);
    assert.deepEqual(batches()[2], [
      ...FENCE_ASSERT,
      { Action: 'DELETE', ResourceRecordSet: ownerTxt('api.example.com', 30) },
      { Action: 'CREATE', ResourceRecordSet: ownerTxt('api.example.com', 30) },
      { Action: 'UPSERT', ResourceRecordSet: primary(['198.51.100.20', '198.51.100.21']) },
      { Action: 'UPSERT', ResourceRecordSet: secondary(['198.51.100.30']) },
    ]);

    // Nothing changed: no batch at all.
    await sync(p, [FAILOVER], ['gcp-euw1', 'azr-weu']);
    assert.equal(batches().length, 3);
  });

  it('weighted: one set per healthy cloud with its weight; a failed cloud is deleted exactly as it stands', async () => {
    const p = provider();
    await p.claimFence(OWNER, HOLDER);
    await sync(p, [WEIGHTED], ['aws-use1', 'gcp-euw1', 'azr-weu']);
    const weighted = (cluster: string, weight: number, values: string[]): ResourceRecordSet => ({
      Name: 'web.example.com.',
      Type: 'A',
      TTL: 60,
      ResourceRecords: values.map((Value) => ({ Value })),
      SetIdentifier: `weft-${cluster}`,
      Weight: weight,
    });
    assert.deepEqual(batches()[1], [
      ...FENCE_ASSERT,
      { Action: 'CREATE', ResourceRecordSet: ownerTxt('web.example.com', 60) },
      { Action: 'CREATE', ResourceRecordSet: weighted('aws-use1', 70, ['198.51.100.10']) },
      { Action: 'CREATE', ResourceRecordSet: weighted('gcp-euw1', 20, ['198.51.100.20', '198.51.100.21']) },
      { Action: 'CREATE', ResourceRecordSet: weighted('azr-weu', 10, ['198.51.100.30']) },
    ]);
    await sync(p, [WEIGHTED], ['aws-use1', 'azr-weu']);
    assert.deepEqual(batches()[2], [
      ...FENCE_ASSERT,
      { Action: 'DELETE', ResourceRecordSet: ownerTxt('web.example.com', 60) },
      { Action: 'CREATE', ResourceRecordSet: ownerTxt('web.example.com', 60) },
      { Action: 'DELETE', ResourceRecordSet: weighted('gcp-euw1', 20, ['198.51.100.20', '198.51.100.21']) },
    ]);
    assert.equal(zone.sets.size, 4, 'fence, ownership TXT and two weighted sets');
  });

  it('an address Route 53 hands back in another notation is no change; a DELETE carries it as stored', async () => {
    const v6 = (cluster: string, address: string) => ({
      cluster,
      addresses: [address],
      priority: 1,
      weight: 50,
    });
    const spec: DnsRecordSpec = {
      name: `v6.${ZONE}`,
      type: 'AAAA',
      ttl: 60,
      routing: 'weighted',
      targets: [v6('aws-use1', '2001:db8::10'), v6('gcp-euw1', '2001:db8::20')],
    };
    const p = provider();
    await p.claimFence(OWNER, HOLDER);
    await sync(p, [spec], ['aws-use1', 'gcp-euw1']);
    assert.equal(batches().length, 2);
    const stored = (cluster: string, value: string): ResourceRecordSet => ({
      Name: 'v6.example.com.',
      Type: 'AAAA',
      TTL: 60,
      ResourceRecords: [{ Value: value }],
      SetIdentifier: `weft-${cluster}`,
      Weight: 50,
    });
    zone.add(stored('aws-use1', '2001:DB8:0:0:0:0:0:10'));
    zone.add(stored('gcp-euw1', '2001:0db8::0020'));

    await sync(p, [spec], ['aws-use1', 'gcp-euw1']);
    assert.equal(batches().length, 2, 'the same addresses in another notation: no batch');

    await sync(p, [spec], ['aws-use1']);
    assert.deepEqual(batches()[2], [
      ...FENCE_ASSERT,
      { Action: 'DELETE', ResourceRecordSet: ownerTxt('v6.example.com', 60, 'aaaa') },
      { Action: 'CREATE', ResourceRecordSet: ownerTxt('v6.example.com', 60, 'aaaa') },
      { Action: 'DELETE', ResourceRecordSet: stored('gcp-euw1', '2001:0db8::0020') },
    ]);
  });

  it('never touches records it does not own, and says why', async () => {
    const foreign: ResourceRecordSet = {
      Name: 'api.example.com.',
      Type: 'A',
      TTL: 300,
      ResourceRecords: [{ Value: '192.0.2.1' }],
    };
    zone.add(foreign);
    const other: ResourceRecordSet = {
      Name: '_weft-a.web.example.com.',
      Type: 'TXT',
      TTL: 60,
      ResourceRecords: [{ Value: '"heritage=weft,weft/owner=other-fabric"' }],
    };
    zone.add(other);
    const p = provider();
    await p.claimFence(OWNER, HOLDER);
    const plan = await sync(p, [FAILOVER, WEIGHTED], ['aws-use1']);
    assert.equal(plan.units.length, 0);
    assert.deepEqual(
      plan.notes.map((n) => n.message.replace(/ \(.*/, '')),
      [
        'api.example.com A: not owned by fabric-1, has records and no ownership TXT',
        'web.example.com A: not owned by fabric-1, owned by other-fabric; left untouched',
      ],
    );
    assert.equal(batches().length, 1, 'only the fence claim was written');
    assert.deepEqual(zone.sets.get(FakeHostedZone.key(foreign)), foreign);
  });

  it('a batch from a fenced-off leader is rejected whole (DNS_CONFLICT)', async () => {
    const p = provider();
    await p.claimFence(OWNER, { token: 9, instanceId: 'gw-b' });
    assert.deepEqual(await p.claimFence(OWNER, HOLDER), { claimed: false, zoneToken: 9 });
    const plan = await planDns({
      provider: p,
      ownerId: OWNER,
      records: [FAILOVER],
      up: new Set(['aws-use1']),
    });
    await assert.rejects(
      applyDnsPlan(plan, { provider: p, ownerId: OWNER, assertLeader: () => Promise.resolve(HOLDER) }),
      (err: InfraError) => err.code === 'DNS_CONFLICT' && /not found/.test(err.message),
    );
    assert.equal(zone.sets.size, 1, 'only the newer leader’s fence exists');
  });

  it('retries throttling and PriorRequestNotComplete with exponential backoff, then gives up as DNS_THROTTLED', async () => {
    r53
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(serviceError('Throttling', 400))
      .rejectsOnce(serviceError('PriorRequestNotComplete', 400))
      .rejectsOnce(serviceError('ServiceUnavailable', 503))
      .callsFake((input: ChangeResourceRecordSetsCommandInput) => zone.change(input));
    const p = provider({ backoff: { random: () => 1, baseDelayMs: 100 } });
    assert.deepEqual(await p.claimFence(OWNER, HOLDER), { claimed: true });
    assert.equal(r53.commandCalls(ChangeResourceRecordSetsCommand).length, 4);
    assert.deepEqual(clock.sleeps, [100, 200, 400]);

    r53.on(ChangeResourceRecordSetsCommand).rejects(serviceError('Throttling', 400));
    clock.sleeps = [];
    const q = provider({ backoff: { random: () => 0, baseDelayMs: 100, maxDelayMs: 500, maxAttempts: 5 } });
    await assert.rejects(
      q.claimFence(OWNER, { token: 8, instanceId: 'gw-a' }),
      (err: InfraError) => err.code === 'DNS_THROTTLED' && /Throttling/.test(err.message),
    );
    assert.deepEqual(clock.sleeps, [50, 100, 200, 250], 'full jitter in [delay/2, delay], capped');
  });

  it('does not retry a rejected batch, and paces requests under the account rate limit', async () => {
    r53.on(ChangeResourceRecordSetsCommand).rejects(invalid('bad'));
    const p = provider();
    await assert.rejects(p.claimFence(OWNER, HOLDER), (err: InfraError) => err.code === 'DNS_CONFLICT');
    assert.equal(r53.commandCalls(ChangeResourceRecordSetsCommand).length, 1);

    const paced = provider({ requestsPerSecond: 5 });
    clock.sleeps = [];
    await paced.readRecords(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => ({ name: `${n}.${ZONE}`, type: 'A' as const })),
    );
    assert.deepEqual(clock.sleeps, [200, 200, 200, 200, 200]);
  });

  it('creates one health check per gateway address, attaches it, and waits for INSYNC when asked', async () => {
    let created = 0;
    r53.on(CreateHealthCheckCommand).callsFake(() => ({ HealthCheck: { Id: `hc-${++created}` } }));
    r53
      .on(GetChangeCommand)
      .resolvesOnce({ ChangeInfo: { Id: 'x', Status: 'PENDING', SubmittedAt: new Date(0) } })
      .resolves({ ChangeInfo: { Id: 'x', Status: 'INSYNC', SubmittedAt: new Date(0) } });
    const p = provider({
      healthChecks: {
        type: 'HTTPS',
        port: 443,
        path: '/healthz',
        requestIntervalSeconds: 10,
        failureThreshold: 2,
      },
      waitForSync: true,
      syncPollMs: 1000,
    });
    await p.claimFence(OWNER, HOLDER);
    await sync(p, [FAILOVER], ['aws-use1', 'gcp-euw1']);
    const configs = r53.commandCalls(CreateHealthCheckCommand).map((c) => c.args[0].input.HealthCheckConfig);
    assert.deepEqual(configs, [
      {
        IPAddress: '198.51.100.10',
        Port: 443,
        Type: 'HTTPS',
        ResourcePath: '/healthz',
        RequestInterval: 10,
        FailureThreshold: 2,
      },
      {
        IPAddress: '198.51.100.20',
        Port: 443,
        Type: 'HTTPS',
        ResourcePath: '/healthz',
        RequestInterval: 10,
        FailureThreshold: 2,
      },
    ]);
    const written = batches()[1]?.filter((c) => c.ResourceRecordSet?.Type === 'A');
    assert.deepEqual(
      written?.map((c) => [c.ResourceRecordSet?.SetIdentifier, c.ResourceRecordSet?.HealthCheckId]),
      [
        ['weft-primary', 'hc-1'],
        ['weft-secondary', 'hc-2'],
      ],
    );
    assert.ok(r53.commandCalls(GetChangeCommand).length >= 2, 'polled until INSYNC');
    assert.ok(clock.sleeps.includes(1000));

    // Same settings on the next cycle: no new health checks, no changes.
    await sync(p, [FAILOVER], ['aws-use1', 'gcp-euw1']);
    assert.equal(created, 2);
    assert.equal(batches().length, 2);
  });
});
