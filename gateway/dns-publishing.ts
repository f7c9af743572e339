// Glue between the gateway and infra/dns: builds the configured DNS provider and record specs from the
// `dns:` config section, and runs a DnsPublisher fed by the same fabric view that routes east-west traffic
// (one health signal for both). Every gateway runs one; the Redis lease makes exactly one of them write.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import {
  createRedisClient,
  logOutages,
  type FabricSnapshot,
  type FabricView,
  type RedisConfig,
} from '../discovery/index.js';
import {
  DnsPublisher,
  Rfc2136Provider,
  Route53Provider,
  type ClusterHealth,
  type DnsProvider,
  type DnsRecordSpec,
} from '../infra/index.js';
import type { DnsConfig } from './config/index.js';
import { GatewayError } from './errors.js';

/** The gateway config's records as infra/dns takes them. */
export function dnsRecordSpecs(dns: DnsConfig): DnsRecordSpec[] {
  return dns.records.map((r) => ({
    name: r.name,
    type: r.type,
    ttl: r.ttl,
    routing: r.routing,
    targets: r.targets.map((t) => ({ ...t, addresses: [...t.addresses] })),
  }));
}

/** Builds the configured provider; reads the TSIG secret file. Throws CONFIG_UNREADABLE when it cannot. */
export async function createDnsProvider(dns: DnsConfig): Promise<DnsProvider> {
  const p = dns.provider;
  if (p.kind === 'route53') {
    return new Route53Provider({
      hostedZoneId: p.hostedZoneId,
      zone: p.zone,
      region: p.region,
      waitForSync: p.waitForSync,
      syncTimeoutMs: p.syncTimeoutMs,
      requestsPerSecond: p.maxRequestsPerSecond,
      ...(p.endpoint ? { endpoint: p.endpoint } : {}),
      ...(p.healthChecks ? { healthChecks: p.healthChecks } : {}),
    });
  }
  let secret = p.tsig.secret ?? '';
  if (p.tsig.secretFile) {
    try {
      secret = (await readFile(p.tsig.secretFile, 'utf8')).trim();
    } catch (err) {
      throw new GatewayError(
        'CONFIG_UNREADABLE',
        `cannot read dns TSIG secretFile: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  const bytes = Buffer.from(secret, 'base64');
  if (bytes.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) {
    throw new GatewayError('CONFIG_INVALID', 'the dns TSIG secret is empty or not base64');
  }
  return new Rfc2136Provider({
    server: p.server,
    zone: p.zone,
    tsig: { name: p.tsig.name, algorithm: p.tsig.algorithm, secret: bytes },
    timeoutMs: p.timeoutMs,
  });
}

/**
 * A cluster is published while discovery sees it live with at least one live gateway; a stale or evicted
 * cluster is withdrawn (subject to the publisher's never-empty guard and hold-down on recovery).
 */
export function clusterHealthOf(snapshot: FabricSnapshot): ClusterHealth[] {
  return [...snapshot.clusters.values()].map((c) => ({
    cluster: c.name,
    healthy: c.freshness === 'live' && c.gateways.some((g) => g.freshness === 'live'),
  }));
}

export interface FabricDnsPublisherOptions {
  readonly dns: DnsConfig;
  readonly redis: RedisConfig;
  readonly view: FabricView;
  readonly instanceId: string;
  readonly logger: Logger;
}

export class FabricDnsPublisher {
  private readonly options: FabricDnsPublisherOptions;
  private publisher: DnsPublisher | undefined;
  private redis: ReturnType<typeof createRedisClient> | undefined;
  private unsubscribe: (() => void)[] = [];

  constructor(options: FabricDnsPublisherOptions) {
    this.options = options;
  }

  async start(): Promise<void> {
    const { dns, view, logger } = this.options;
    const provider = await createDnsProvider(dns);
    this.redis = createRedisClient(this.options.redis);
    logOutages(logger, 'dns publisher', this.redis);
    const publisher = new DnsPublisher({
      redis: this.redis,
      provider,
      ownerId: dns.ownerId,
      records: dnsRecordSpecs(dns),
      intervalMs: dns.intervalMs,
      holdDownMs: dns.holdDownMs,
      leaseTtlMs: dns.leaseTtlMs,
      resyncIntervalMs: dns.resyncIntervalMs,
      instanceId: this.options.instanceId,
    });
    this.publisher = publisher;
    this.unsubscribe.push(
      publisher.subscribe((event) => {
        if (event.type === 'error') logger.warn({ err: event.error.message }, 'dns publisher error');
        else if (event.type === 'applied')
          logger.info({ changes: event.changes, token: event.token }, 'dns updated');
        else if (event.type === 'held') logger.warn({ messages: event.messages }, 'dns records held');
        else if (event.type === 'leader') logger.info({ token: event.token }, 'dns publisher leading');
      }),
      view.subscribe((snapshot) => publisher.setHealth(clusterHealthOf(snapshot))),
    );
    publisher.start();
    publisher.setHealth(clusterHealthOf(view.snapshot()));
  }

  status(): unknown {
    return this.publisher?.status();
  }

  async close(): Promise<void> {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    await this.publisher?.close();
    this.redis?.disconnect();
  }
}
