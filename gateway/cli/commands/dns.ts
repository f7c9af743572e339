// `weft dns plan` and `weft dns sync`: show, or apply once, what the global DNS failover publisher would
// change for the config's `dns:` section. Health comes from `--health cluster=up|down,...`; clusters not
// named count as healthy (a running gateway feeds live health from discovery instead). `plan` only reads
// the provider; `sync` takes the publisher lease in Redis first, so it never races a running publisher.
import { once } from 'node:events';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { createRedisClient } from '../../../discovery/index.js';
import {
  HealthGate,
  InfraError,
  LeaderLease,
  PublisherStateStore,
  applyDnsPlan,
  describeUnit,
  dnsKeys,
  planDns,
  type DnsPlan,
  type DnsProvider,
} from '../../../infra/index.js';
import { loadConfigFile, type DnsConfig, type GatewayConfig } from '../../config/index.js';
import { createDnsProvider, dnsRecordSpecs } from '../../dns-publishing.js';
import { GatewayError } from '../../errors.js';

interface DnsFlags {
  config: string;
  health?: string;
}

/** `out` receives what the commands print (stdout by default; tests pass their own). */
export function registerDnsCommand(
  program: Command,
  out: Pick<NodeJS.WritableStream, 'write'> = process.stdout,
): void {
  const dns = program.command('dns').description('global DNS failover records (Route 53 or RFC 2136)');
  dns
    .command('plan')
    .description('show what the DNS publisher would change, without changing anything')
    .requiredOption('--config <file>', 'gateway config with a dns: section')
    .option('--health <list>', 'cluster health overrides, e.g. aws-use1=down,gcp-euw1=up')
    .action(async (flags: DnsFlags) => {
      const { config, dnsConfig, health } = await prepare(flags);
      const provider = await createDnsProvider(dnsConfig);
      try {
        out.write(`${describeHealth(health, dnsConfig)}\n`);
        const plan = await run(() => planDns({ ...planInput(dnsConfig, provider, health) }));
        out.write(renderPlan(plan, config));
      } finally {
        await provider.close();
      }
    });
  dns
    .command('sync')
    .description('apply the DNS changes once, holding the publisher lease in Redis while writing')
    .requiredOption('--config <file>', 'gateway config with a dns: section')
    .option('--health <list>', 'cluster health overrides, e.g. aws-use1=down,gcp-euw1=up')
    .action(async (flags: DnsFlags) => {
      const { config, dnsConfig, health } = await prepare(flags);
      out.write(`${describeHealth(health, dnsConfig)}\n`);
      await sync(config, dnsConfig, health, out);
    });
  for (const sub of dns.commands) sub.exitOverride();
}

async function prepare(flags: DnsFlags) {
  const health = parseHealth(flags.health);
  const config = await loadConfigFile(flags.config);
  if (!config.dns) {
    throw new GatewayError(
      'USAGE',
      `${config.source} has no dns: section (see README, "Global DNS failover")`,
    );
  }
  return { config, dnsConfig: config.dns, health };
}

/** `a=down,b=up` → Map; throws USAGE on anything else. */
export function parseHealth(text: string | undefined): Map<string, boolean> {
  const health = new Map<string, boolean>();
  if (text === undefined) return health;
  for (const item of text.split(',').filter((s) => s.trim() !== '')) {
    const match = /^([a-z0-9-]+)=(up|down)$/.exec(item.trim());
    if (!match) throw new GatewayError('USAGE', `--health "${item}" is not cluster=up or cluster=down`);
    health.set(match[1] ?? '', match[2] === 'up');
  }
  return health;
}

function clustersOf(dns: DnsConfig): string[] {
  return [...new Set(dns.records.flatMap((r) => r.targets.map((t) => t.cluster)))].sort();
}

function upClusters(dns: DnsConfig, health: Map<string, boolean>): Set<string> {
  return new Set(clustersOf(dns).filter((c) => health.get(c) !== false));
}

function describeHealth(health: Map<string, boolean>, dns: DnsConfig): string {
  const unknown = [...health.keys()].filter((c) => !clustersOf(dns).includes(c));
  const warn = unknown.length > 0 ? ` (not in any record: ${unknown.join(', ')})` : '';
  if (health.size === 0) {
    return 'health: no --health given, every cluster assumed healthy (a running gateway uses live health)';
  }
  const named = [...health].map(([c, up]) => `${c}=${up ? 'up' : 'down'}`).join(', ');
  return `health: from --health (${named})${warn}; every other cluster assumed healthy`;
}

function planInput(dns: DnsConfig, provider: DnsProvider, health: Map<string, boolean>) {
  return { provider, ownerId: dns.ownerId, records: dnsRecordSpecs(dns), up: upClusters(dns, health) };
}

/** Runs an infra call, turning its errors into exit-1 gateway errors with the provider's message. */
async function run<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof InfraError) {
      const code = err.code === 'DNS_INVALID' ? 'CONFIG_INVALID' : 'DNS_FAILED';
      throw new GatewayError(code, `dns: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function renderPlan(plan: DnsPlan, config: GatewayConfig): string {
  const lines: string[] = [];
  const zone = config.dns?.zone ?? '';
  lines.push(`zone ${zone} via ${config.dns?.provider.kind}, owner ${config.dns?.ownerId}`);
  for (const unit of plan.units) lines.push(...describeUnit(unit));
  for (const note of plan.notes) lines.push(note.message);
  const changes = plan.units.reduce((n, u) => n + u.changes.length, 0);
  lines.push(
    plan.units.length === 0
      ? 'no changes'
      : `${changes} record set change(s) in ${plan.units.length} record(s)`,
  );
  return `${lines.join('\n')}\n`;
}

async function sync(
  config: GatewayConfig,
  dns: DnsConfig,
  health: Map<string, boolean>,
  out: Pick<NodeJS.WritableStream, 'write'>,
): Promise<void> {
  const redis = createRedisClient(config.redis);
  redis.on('error', () => undefined);
  const provider = await createDnsProvider(dns);
  const instanceId = `cli/${hostname()}/${process.pid}`;
  const lease = new LeaderLease({ redis, ownerId: dns.ownerId, instanceId, ttlMs: dns.leaseTtlMs });
  try {
    await run(() => waitReady(redis));
    await lease.step();
    if (!lease.current()) {
      const holder = await redis.get(dnsKeys(dns.ownerId).leader).catch(() => null);
      throw new GatewayError(
        'DNS_FAILED',
        holder
          ? `another DNS publisher (${holder.split(' ')[0]}) holds the lease for owner ${dns.ownerId} and keeps DNS in sync; not writing`
          : `cannot take the DNS publisher lease for owner ${dns.ownerId} in Redis`,
      );
    }
    const store = new PublisherStateStore(redis, dns.ownerId);
    const state = await store.load().catch((err: Error) => {
      process.stderr.write(`weft: ignoring the saved DNS state: ${err.message}\n`);
      return undefined;
    });
    let holder = { token: await run(() => lease.assertHeld()), instanceId };
    const claim = await run(() => provider.claimFence(dns.ownerId, holder));
    if (!claim.claimed) {
      holder = { token: (await run(() => lease.advancePast(claim.zoneToken))).token, instanceId };
      await run(() => provider.claimFence(dns.ownerId, holder));
    }
    const plan = await run(() =>
      planDns({ ...planInput(dns, provider, health), previouslyOwned: state?.owned ?? [] }),
    );
    const batches = await run(() =>
      applyDnsPlan(plan, {
        provider,
        ownerId: dns.ownerId,
        assertLeader: async () => ({ token: await lease.assertHeld(), instanceId }),
      }),
    );
    const gate = new HealthGate(dns.holdDownMs);
    gate.observe(
      clustersOf(dns).map((cluster) => ({ cluster, healthy: health.get(cluster) !== false })),
      Date.now(),
    );
    const saved = await store.save({
      version: 1,
      token: holder.token,
      instanceId,
      appliedAt: Date.now(),
      owned: plan.ownedAfter,
      records: plan.recordsAfter,
      gate: gate.export(),
    });
    if (!saved) throw new GatewayError('DNS_FAILED', 'lost the DNS publisher lease before saving the state');
    out.write(renderPlan(plan, config));
    out.write(`applied ${batches} batch(es) with fencing token ${holder.token}\n`);
  } finally {
    await lease.close();
    await provider.close();
    redis.disconnect();
  }
}

async function waitReady(redis: ReturnType<typeof createRedisClient>): Promise<void> {
  if (redis.status === 'ready') return;
  const timeout = AbortSignal.timeout(5000);
  try {
    await once(redis, 'ready', { signal: timeout });
  } catch (err) {
    throw new InfraError('DNS_PROVIDER', 'cannot reach Redis within 5s (needed for the publisher lease)', {
      cause: err,
    });
  }
}
