// The `dns:` section of the gateway config: which public records the fabric keeps pointed at healthy
// clusters, through which provider (Route 53 or an RFC 2136 server). Parsed strictly, then normalized into
// DnsConfig (durations → …Ms, paths resolved, failover priorities defaulted) with cross-field checks that
// report every problem with its path. The gateway maps DnsConfig onto infra/dns's plain types.
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ConfigProblem } from './config-error.js';
import type { HostPort } from './host-port.js';
import { canonicalIp } from '../../infra/index.js';
import { DNS_LABEL, dnsName, duration, hostPort } from './schema-primitives.js';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const tsig = z
  .strictObject({
    name: dnsName('tsig.name'),
    algorithm: z.enum(['hmac-sha256', 'hmac-sha384', 'hmac-sha512']).default('hmac-sha256'),
    secret: z
      .string()
      .regex(BASE64, 'secret must be base64 (as in named.conf / tsig-keygen output)')
      .optional(),
    secretFile: z.string().min(1).optional(),
  })
  .refine((t) => (t.secret === undefined) !== (t.secretFile === undefined), {
    message: 'set exactly one of secret (base64) or secretFile (a file holding it)',
  });

const rfc2136 = z.strictObject({
  server: hostPort,
  zone: dnsName('zone'),
  tsig,
  timeout: duration('5s'),
});

const healthChecks = z.strictObject({
  type: z.enum(['HTTP', 'HTTPS', 'TCP']).default('HTTPS'),
  port: z.number().int().min(1).max(65535).default(443),
  path: z.string().startsWith('/', 'path must start with /').default('/healthz'),
  requestInterval: duration('30s').refine(
    (ms) => ms === 10_000 || ms === 30_000,
    'Route 53 checks every 10s or 30s',
  ),
  failureThreshold: z.number().int().min(1).max(10).default(3),
});

const route53 = z.strictObject({
  hostedZoneId: z
    .string()
    .regex(/^(\/hostedzone\/)?[A-Z0-9]{1,32}$/, 'hostedZoneId looks like Z0123456789ABC'),
  zone: dnsName('zone'),
  region: z.string().min(1).default('us-east-1'),
  endpoint: z.url('endpoint must be a URL such as http://127.0.0.1:4566').optional(),
  // true: the defaults, as `{}` gives them.
  healthChecks: z
    .union([z.literal(false), z.literal(true).transform(() => healthChecks.parse({})), healthChecks])
    .default(false),
  waitForSync: z.boolean().default(false),
  syncTimeout: duration('2m'),
  maxRequestsPerSecond: z.number().positive().max(100).default(5),
});

const target = z.strictObject({
  cluster: z.string().regex(DNS_LABEL, 'cluster must be a DNS label'),
  addresses: z.array(z.string()).min(1, 'list the cluster’s public ingress addresses'),
  priority: z.number().int().min(0).optional(),
  weight: z.number().int().min(0).max(255).default(1),
});

const record = z.strictObject({
  name: dnsName('name'),
  type: z.enum(['A', 'AAAA']).default('A'),
  ttl: z.number().int().min(0).max(2_147_483_647).default(30),
  routing: z.enum(['failover', 'weighted', 'multivalue']).default('failover'),
  targets: z.array(target).min(1, 'list at least one target cluster'),
});

export const dnsConfigSchema = z.strictObject({
  provider: z.union([z.strictObject({ rfc2136 }), z.strictObject({ route53 })]),
  ownerId: z
    .string()
    .regex(DNS_LABEL, 'ownerId must be a DNS label')
    .max(40, 'ownerId must be at most 40 characters')
    .default('weft'),
  interval: duration('5s', 10),
  holdDown: duration('30s'),
  leaseTtl: duration('10s'),
  resyncInterval: duration('1m', 100),
  records: z.array(record).min(1, 'list at least one record to publish'),
});

type ParsedDns = z.output<typeof dnsConfigSchema>;

export type DnsProviderConfig =
  | {
      readonly kind: 'rfc2136';
      readonly server: HostPort;
      readonly zone: string;
      readonly tsig: {
        readonly name: string;
        readonly algorithm: 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';
        /** Base64 secret, or an absolute path to a file holding it; exactly one is set. */
        readonly secret?: string;
        readonly secretFile?: string;
      };
      readonly timeoutMs: number;
    }
  | {
      readonly kind: 'route53';
      readonly hostedZoneId: string;
      readonly zone: string;
      readonly region: string;
      readonly endpoint?: string;
      readonly healthChecks?: {
        readonly type: 'HTTP' | 'HTTPS' | 'TCP';
        readonly port: number;
        readonly path: string;
        readonly requestIntervalSeconds: 10 | 30;
        readonly failureThreshold: number;
      };
      readonly waitForSync: boolean;
      readonly syncTimeoutMs: number;
      readonly maxRequestsPerSecond: number;
    };

export interface DnsRecordConfig {
  readonly name: string;
  readonly type: 'A' | 'AAAA';
  readonly ttl: number;
  readonly routing: 'failover' | 'weighted' | 'multivalue';
  readonly targets: readonly {
    readonly cluster: string;
    readonly addresses: readonly string[];
    /** Failover order, lower first; defaults to the position in the list (1, 2, …). */
    readonly priority: number;
    readonly weight: number;
  }[];
}

export interface DnsConfig {
  readonly provider: DnsProviderConfig;
  readonly zone: string;
  readonly ownerId: string;
  readonly intervalMs: number;
  readonly holdDownMs: number;
  readonly leaseTtlMs: number;
  readonly resyncIntervalMs: number;
  readonly records: readonly DnsRecordConfig[];
}

/** Cross-field checks and defaults; problems are appended with `dns.`-rooted paths. */
export function normalizeDnsConfig(
  parsed: ParsedDns,
  fromConfig: (path: string) => string,
  problems: ConfigProblem[],
): DnsConfig {
  const provider = normalizeProvider(parsed.provider, fromConfig);
  const zone = provider.zone;
  if (parsed.leaseTtl < 1000) problems.push({ path: 'dns.leaseTtl', message: 'must be at least 1s' });
  const seen = new Set<string>();
  const records = parsed.records.map((r, i): DnsRecordConfig => {
    const at = `dns.records[${i}]`;
    if (r.name !== zone && !r.name.endsWith(`.${zone}`)) {
      problems.push({ path: `${at}.name`, message: `${r.name} is outside the provider's zone ${zone}` });
    }
    const key = `${r.name} ${r.type}`;
    if (seen.has(key)) problems.push({ path: at, message: `${key} is listed twice` });
    seen.add(key);
    const clusters = new Set<string>();
    const targets = r.targets.map((t, j) => {
      if (clusters.has(t.cluster)) {
        problems.push({ path: `${at}.targets[${j}].cluster`, message: `${t.cluster} is listed twice` });
      }
      clusters.add(t.cluster);
      const family = r.type === 'A' ? 4 : 6;
      // Canonical, so that the values read back from the zone compare equal to these (else every sync
      // would rewrite a record spelled "0:0:0:0:0:0:0:1" with the same address).
      const addresses = t.addresses.map((address, k) => {
        const canonical = isIP(address) === family ? canonicalIp(address) : undefined;
        if (canonical !== undefined) return canonical;
        problems.push({
          path: `${at}.targets[${j}].addresses[${k}]`,
          message: address.includes('%')
            ? `"${address}" has a zone id (%…): a DNS record holds an address without one`
            : `"${address}" is not an IPv${family} address (record type ${r.type})`,
        });
        return address;
      });
      return { cluster: t.cluster, addresses, priority: t.priority ?? j + 1, weight: t.weight };
    });
    return { name: r.name, type: r.type, ttl: r.ttl, routing: r.routing, targets };
  });
  return {
    provider,
    zone,
    ownerId: parsed.ownerId,
    intervalMs: parsed.interval,
    holdDownMs: parsed.holdDown,
    leaseTtlMs: parsed.leaseTtl,
    resyncIntervalMs: parsed.resyncInterval,
    records,
  };
}

function normalizeProvider(
  provider: ParsedDns['provider'],
  fromConfig: (path: string) => string,
): DnsProviderConfig {
  if ('rfc2136' in provider) {
    const { server, zone, tsig: key, timeout } = provider.rfc2136;
    return {
      kind: 'rfc2136',
      server,
      zone,
      tsig: {
        name: key.name,
        algorithm: key.algorithm,
        ...(key.secret !== undefined ? { secret: key.secret } : {}),
        ...(key.secretFile !== undefined ? { secretFile: fromConfig(key.secretFile) } : {}),
      },
      timeoutMs: timeout,
    };
  }
  const r = provider.route53;
  return {
    kind: 'route53',
    hostedZoneId: r.hostedZoneId,
    zone: r.zone,
    region: r.region,
    ...(r.endpoint !== undefined ? { endpoint: r.endpoint } : {}),
    ...(r.healthChecks
      ? {
          healthChecks: {
            type: r.healthChecks.type,
            port: r.healthChecks.port,
            path: r.healthChecks.path,
            requestIntervalSeconds: r.healthChecks.requestInterval === 10_000 ? 10 : 30,
            failureThreshold: r.healthChecks.failureThreshold,
          },
        }
      : {}),
    waitForSync: r.waitForSync,
    syncTimeoutMs: r.syncTimeout,
    maxRequestsPerSecond: r.maxRequestsPerSecond,
  };
}
