// Loads a gateway config: YAML text → schema validation → a frozen, fully defaulted GatewayConfig with
// file paths resolved against the config file's folder. Parsed once at the edge; a reload builds a new
// object and validates it whole before anything swaps to it.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { GatewayError } from '../errors.js';
import { ConfigError, formatPath, type ConfigProblem } from './config-error.js';
import { normalizeDnsConfig, type DnsConfig } from './dns-schema.js';
import { gatewayConfigSchema, type ParsedGatewayConfig } from './schema.js';
import {
  normalizeFailoverConfig,
  normalizeServiceResilience,
  type FailoverConfig,
  type ServiceResilienceOverrides,
} from './resilience-schema.js';
import { formatHostPort, type HostPort } from './host-port.js';
import { isUnspecifiedIp } from './ip-address.js';
import type { RedisConfig, RedisTlsConfig } from '../../discovery/index.js';

type Parsed = ParsedGatewayConfig;

type ParsedService = Parsed['services'][number];
type ParsedHealth = NonNullable<ParsedService['health']>;

/** A health check with its timings in milliseconds; exactly one of http, grpc, tcp is set. */
export type HealthCheckConfig = Readonly<
  Omit<ParsedHealth, 'interval' | 'timeout'> & { intervalMs: number; timeoutMs: number }
>;

type ResilienceKeys = keyof ServiceResilienceOverrides;

export type ServiceConfig = Readonly<Omit<ParsedService, 'health' | ResilienceKeys>> &
  ServiceResilienceOverrides & {
    /** `name.namespace`, the key used everywhere in routing and discovery. */
    readonly key: string;
    readonly health?: HealthCheckConfig;
  };

/** A service this gateway only calls (`calls[]`), and its settings. */
export type CallConfig = ServiceResilienceOverrides & {
  /** `name.namespace`. */
  readonly key: string;
};

export interface DiscoveryConfig {
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly staleForMs: number;
  readonly resyncIntervalMs: number;
  readonly snapshotFile: string;
}

export interface GatewayConfig {
  readonly source: string;
  readonly cluster: string;
  readonly locality: Readonly<Parsed['locality']>;
  readonly trustDomain: string;
  readonly zone: string;
  readonly defaultNamespace: string;
  readonly redis: RedisConfig;
  readonly tls: Readonly<Parsed['tls']>;
  readonly listen: Readonly<Parsed['listen']>;
  /** How peers reach this gateway; defaults to listen.peer unless that is a wildcard address. */
  readonly advertise: HostPort;
  readonly services: readonly ServiceConfig[];
  /** Settings for services this gateway calls but does not serve. */
  readonly calls: readonly CallConfig[];
  readonly tcp: Readonly<Parsed['tcp']>;
  readonly discovery: DiscoveryConfig;
  readonly drainTimeoutMs: number;
  /** What one local caller may hold: `callerStreams` is an HTTP/2 caller connection's concurrent streams. */
  readonly limits: Readonly<Parsed['limits']>;
  /** Global DNS failover publishing; absent when the config has no `dns:` section. */
  readonly dns?: DnsConfig;
  /** Fabric-wide failover defaults, peer probes, outlier detection and retry budget. */
  readonly failover: FailoverConfig;
  readonly observability: ObservabilityConfig;
}

export interface ObservabilityConfig {
  /** Share of requests written as JSON access log lines, 0..1; 0 (default) turns access logs off. */
  readonly accessLogSampleRate: number;
  /** Span export over OTLP/HTTP; absent (default) turns it off. */
  readonly tracing?: TracingConfig;
}

export interface TracingConfig {
  /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces (JSON encoding). */
  readonly otlpEndpoint: string;
  /**
   * Share of the traces this gateway starts (requests without a valid traceparent) that are sampled,
   * 0..1. A request that arrives with a traceparent keeps its caller's sampled flag.
   */
  readonly sampleRate: number;
  /** The resource's service.name. */
  readonly serviceName: string;
}

/** Reads and validates a config file. Throws ConfigError (every problem listed) or CONFIG_UNREADABLE. */
export async function loadConfigFile(path: string): Promise<GatewayConfig> {
  const source = resolve(path);
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (err) {
    throw new GatewayError('CONFIG_UNREADABLE', `cannot read config ${source}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfigText(text, source);
}

/** Parses YAML text as a config; `source` names the file in errors and anchors relative paths. */
export function parseConfigText(text: string, source: string): GatewayConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({
        path: `line ${e.linePos?.[0]?.line ?? '?'}`,
        message: e.message.split('\n')[0] ?? '',
      })),
    );
  }
  return parseConfigObject(doc.toJS() as unknown, source);
}

/** Validates an already-decoded config object. */
export function parseConfigObject(input: unknown, source: string): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.flatMap((issue) => describeIssue(issue, [])),
    );
  }
  const problems: ConfigProblem[] = [];
  const config = normalize(result.data, source, problems);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return deepFreeze(config);
}

type Issue = z.core.$ZodIssue;

/** Flattens schema issues; for a union, reports the alternative that came closest (fewest problems). */
function describeIssue(issue: Issue, prefix: readonly PropertyKey[]): ConfigProblem[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const closest = [...issue.errors].sort((a, b) => distance(a) - distance(b))[0] ?? [];
    return closest.flatMap((inner) => describeIssue(inner, path));
  }
  return [{ path: formatPath(path), message: issue.message }];
}

/**
 * How far a union alternative is from the input: a wrong type at its root means "not this one at all",
 * and keys it does not know mean the input was written for another alternative.
 */
function distance(issues: readonly Issue[]): number {
  let score = issues.length;
  for (const i of issues) {
    if (i.path.length === 0 && i.code === 'invalid_type') score += 1_000_000;
    if (i.path.length === 0 && i.code === 'unrecognized_keys') score += 1_000;
  }
  return score;
}

function normalize(parsed: Parsed, source: string, problems: ConfigProblem[]): GatewayConfig {
  const baseDir = dirname(source);
  const fromConfig = (path: string) => resolve(baseDir, path);

  const failover = normalizeFailoverConfig(parsed.failover, parsed.cluster, problems);
  const services = parsed.services.map(
    ({ health, failover: f, retries, timeouts, circuitBreaker, rateLimit, ...s }, i): ServiceConfig => {
      const key = `${s.name}.${s.namespace}`;
      const resilience = normalizeServiceResilience(
        { failover: f, retries, timeouts, circuitBreaker, rateLimit },
        `services[${i}]`,
        failover,
        parsed.cluster,
        problems,
      );
      if (!health) return { ...s, ...resilience, key };
      const { interval, timeout, ...check } = health;
      return { ...s, ...resilience, key, health: { ...check, intervalMs: interval, timeoutMs: timeout } };
    },
  );
  const seen = new Set<string>();
  services.forEach((s, i) => {
    if (seen.has(s.key))
      problems.push({ path: `services[${i}]`, message: `service ${s.key} is listed twice` });
    seen.add(s.key);
  });
  const calls = normalizeCalls(parsed.calls, seen, failover, parsed.cluster, problems);

  parsed.services.forEach((s, i) =>
    s.endpoints.forEach(({ address }, j) => {
      // Listen addresses may take port 0 (any free port); an endpoint is dialed, and nothing listens on 0.
      if (address.port === 0) {
        problems.push({
          path: `services[${i}].endpoints[${j}]`,
          message: `${formatHostPort(address)} has port 0: an endpoint needs a port from 1 to 65535`,
        });
      }
    }),
  );

  if (!parsed.advertise && isUnspecifiedIp(parsed.listen.peer.host)) {
    problems.push({
      path: 'advertise',
      message: `listen.peer is a wildcard address; set advertise to the host:port other gateways dial`,
    });
  }

  const tcpPorts = new Set<string>();
  parsed.tcp.forEach((t, i) => {
    const key = formatHostPort(t.listen); // hosts are canonical: one address, one key
    if (tcpPorts.has(key)) problems.push({ path: `tcp[${i}].listen`, message: `${key} is bound twice` });
    tcpPorts.add(key);
  });

  const discovery = parsed.discovery;
  if (discovery.heartbeatInterval >= discovery.leaseTtl) {
    problems.push({
      path: 'discovery.heartbeatInterval',
      message: 'must be shorter than discovery.leaseTtl',
    });
  }

  return {
    source,
    cluster: parsed.cluster,
    locality: parsed.locality,
    trustDomain: parsed.trustDomain,
    zone: parsed.zone,
    defaultNamespace: parsed.defaultNamespace,
    redis: normalizeRedis(parsed.redis, fromConfig),
    tls: {
      ca: fromConfig(parsed.tls.ca),
      cert: fromConfig(parsed.tls.cert),
      key: fromConfig(parsed.tls.key),
    },
    listen: parsed.listen,
    advertise: parsed.advertise ?? parsed.listen.peer,
    services,
    calls,
    tcp: parsed.tcp,
    discovery: {
      leaseTtlMs: discovery.leaseTtl,
      heartbeatIntervalMs: discovery.heartbeatInterval,
      staleForMs: discovery.staleFor,
      resyncIntervalMs: discovery.resyncInterval,
      snapshotFile: fromConfig(discovery.snapshotFile ?? `weft-snapshot-${parsed.cluster}.json`),
    },
    drainTimeoutMs: parsed.drainTimeout,
    limits: parsed.limits,
    ...(parsed.dns ? { dns: normalizeDnsConfig(parsed.dns, fromConfig, problems) } : {}),
    failover,
    observability: normalizeObservability(parsed.observability),
  };
}

function normalizeCalls(
  parsed: Parsed['calls'],
  served: ReadonlySet<string>,
  failover: FailoverConfig,
  ownCluster: string,
  problems: ConfigProblem[],
): CallConfig[] {
  const seen = new Set<string>();
  return parsed.map(({ service: key, failover: f, retries, timeouts, circuitBreaker, rateLimit }, i) => {
    if (served.has(key)) {
      problems.push({
        path: `calls[${i}].service`,
        message: `${key} is served here: put its settings on its services[] entry`,
      });
    } else if (seen.has(key)) {
      problems.push({ path: `calls[${i}].service`, message: `service ${key} is listed twice` });
    }
    seen.add(key);
    const overrides = { failover: f, retries, timeouts, circuitBreaker, rateLimit };
    return { key, ...normalizeServiceResilience(overrides, `calls[${i}]`, failover, ownCluster, problems) };
  });
}

function normalizeObservability(observability: Parsed['observability']): ObservabilityConfig {
  const { accessLogSampleRate, tracing } = observability;
  return { accessLogSampleRate, ...(tracing ? { tracing: { ...tracing } } : {}) };
}

function normalizeRedis(redis: Parsed['redis'], fromConfig: (p: string) => string): RedisConfig {
  if (typeof redis === 'string') return { mode: 'standalone', url: redis };
  const tls = normalizeRedisTls(redis.tls, fromConfig);
  const common = { username: redis.username, password: redis.password, ...(tls ? { tls } : {}) };
  if ('url' in redis) return { mode: 'standalone', url: redis.url, ...common };
  if ('sentinels' in redis) {
    return {
      mode: 'sentinel',
      sentinels: redis.sentinels,
      name: redis.name,
      db: redis.db,
      sentinelUsername: redis.sentinelUsername,
      sentinelPassword: redis.sentinelPassword,
      ...common,
    };
  }
  return { mode: 'cluster', nodes: redis.cluster, ...common };
}

function normalizeRedisTls(
  tls:
    | boolean
    | { ca?: string; cert?: string; key?: string; servername?: string; insecureSkipVerify: boolean }
    | undefined,
  fromConfig: (p: string) => string,
): RedisTlsConfig | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return { insecureSkipVerify: false };
  return {
    ...(tls.ca ? { ca: fromConfig(tls.ca) } : {}),
    ...(tls.cert ? { cert: fromConfig(tls.cert) } : {}),
    ...(tls.key ? { key: fromConfig(tls.key) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    insecureSkipVerify: tls.insecureSkipVerify,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
