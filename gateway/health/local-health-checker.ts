// Active health checks of this cluster's endpoints: for every endpoint of every catalog service that has
// a `health:` config, an HTTP, gRPC (grpc.health.v1) or TCP check on a jittered interval with rise/fall
// thresholds. The result is an immutable HealthSnapshot, replaced and published to subscribers whenever
// an endpoint's routing answer changes or a catalog change adds or stops checks (a catalog change that
// touches no check publishes nothing: in a catalog of thousands of services, a registration would make
// every subscriber redo its work for all of them). Follows the catalog: new endpoints get a check,
// removed ones have theirs cancelled (the probe in flight is aborted), a changed health config restarts
// the check: from 'unknown' when it probes something else, with its rise/fall state kept when only
// timings or thresholds changed. Lifecycle: construct (no side effects) → start → close (idempotent).
import type { LocalCatalog, LocalService } from '../catalog/index.js';
import { formatHostPort, type HealthCheckConfig } from '../config/index.js';
import { EndpointCheck } from './endpoint-check.js';
import { endpointKey, HealthSnapshot, type ServiceHealthSummary } from './health-snapshot.js';
import { probeFor } from './probe-for.js';
import type { HealthStatus, HealthTransition } from './rise-fall.js';

/** The logging a health component needs (a pino Logger fits). */
export interface HealthLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface LocalHealthCheckerOptions {
  readonly catalog: Pick<LocalCatalog, 'services' | 'subscribe'>;
  readonly logger?: HealthLogger;
  /** Uniform in [0, 1), for jitter. */
  readonly random?: () => number;
  /** Epoch ms, for timestamps. */
  readonly now?: () => number;
}

/** One endpoint's check as the admin API shows it. */
export interface EndpointHealth {
  readonly service: string;
  readonly endpoint: string;
  /** Which check: http path, grpc, tcp; 'none' when the service has no health config. */
  readonly check: string;
  readonly status: HealthStatus | 'unchecked';
  readonly healthy: boolean;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly checks: number;
  readonly lastCheckAt?: number;
  readonly lastDurationMs?: number;
  readonly lastError?: string;
  readonly changedAt?: number;
}

export type HealthListener = (snapshot: HealthSnapshot) => void;

export class LocalHealthChecker {
  private readonly options: LocalHealthCheckerOptions;
  private readonly random: () => number;
  private readonly now: () => number;
  /** By endpointKey(service, host, port). */
  private readonly checks = new Map<string, { check: EndpointCheck; fingerprint: string }>();
  /** The keys of `checks`, by service key. */
  private readonly checksOf = new Map<string, Set<string>>();
  /** The catalog as the last sync saw it. */
  private synced: ReadonlyMap<string, LocalService> = new Map();
  private readonly listeners = new Set<HealthListener>();
  private current: HealthSnapshot;
  private revision = 0;
  private unsubscribe: (() => void) | undefined;
  private publishing = false;
  private republish = false;
  private closed = false;

  constructor(options: LocalHealthCheckerOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.current = new HealthSnapshot(0, new Map(), new Set());
  }

  /** Starts checking the catalog's endpoints and following its changes. Idempotent. */
  start(): void {
    if (this.unsubscribe || this.closed) return;
    this.unsubscribe = this.options.catalog.subscribe((services) => this.sync(services));
    this.sync(this.options.catalog.services());
  }

  /** Stops every check (probes in flight are aborted) and drops subscribers. Idempotent. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const { check } of this.checks.values()) check.stop('health checker closed');
    this.checks.clear();
    this.checksOf.clear();
    this.listeners.clear();
  }

  snapshot(): HealthSnapshot {
    return this.current;
  }

  isHealthy(service: string, host: string, port: number): boolean {
    return this.current.isHealthy(service, host, port);
  }

  summary(service: string): ServiceHealthSummary | undefined {
    return this.current.summary(service);
  }

  /**
   * `listener` runs synchronously after each new snapshot (never re-entrantly; a change made from a
   * listener is published after it returns). Returns an unsubscribe function.
   */
  subscribe(listener: HealthListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every catalog endpoint with its check state, for the admin API. */
  details(): EndpointHealth[] {
    const out: EndpointHealth[] = [];
    for (const service of this.options.catalog.services().values()) {
      for (const e of service.endpoints) {
        const endpoint = formatHostPort(e);
        const entry = this.checks.get(endpointKey(service.key, e.host, e.port));
        if (!entry) {
          out.push({
            service: service.key,
            endpoint,
            check: 'none',
            status: 'unchecked',
            healthy: true,
            consecutiveSuccesses: 0,
            consecutiveFailures: 0,
            checks: 0,
          });
          continue;
        }
        const c = entry.check;
        out.push({
          service: service.key,
          endpoint,
          check: describeCheck(c.config),
          status: c.state.status,
          healthy: c.state.healthy,
          consecutiveSuccesses: c.state.successes,
          consecutiveFailures: c.state.failures,
          checks: c.checks,
          ...(c.lastCheckAt === undefined ? {} : { lastCheckAt: c.lastCheckAt }),
          ...(c.lastDurationMs === undefined ? {} : { lastDurationMs: c.lastDurationMs }),
          ...(c.lastError === undefined ? {} : { lastError: c.lastError }),
          ...(c.changedAt === undefined ? {} : { changedAt: c.changedAt }),
        });
      }
    }
    return out;
  }

  /**
   * Follows the catalog: only the services whose object changed since the last sync (the catalog keeps
   * the objects of unchanged ones) can have checks to start or stop.
   */
  private sync(services: ReadonlyMap<string, LocalService>): void {
    if (this.closed) return;
    const touched = changedKeys(this.synced, services);
    this.synced = services;
    const wanted = new Map<
      string,
      { service: LocalService; host: string; port: number; fingerprint: string }
    >();
    for (const key of touched) {
      const service = services.get(key);
      if (!service?.health) continue;
      const fingerprint = fingerprintOf(service.health);
      for (const e of service.endpoints) {
        wanted.set(endpointKey(key, e.host, e.port), { service, host: e.host, port: e.port, fingerprint });
      }
    }
    /** Stopped checks whose replacement probes the same thing, so keeps their state. */
    const retimed = new Map<string, EndpointCheck>();
    let changed = false;
    for (const service of touched) {
      for (const key of this.checksOf.get(service) ?? []) {
        const entry = this.checks.get(key);
        const next = wanted.get(key);
        if (!entry || next?.fingerprint === entry.fingerprint) continue;
        changed = true;
        entry.check.stop(next ? 'health check changed' : 'endpoint removed');
        this.forget(service, key);
        if (
          next?.service.health &&
          describeCheck(next.service.health) === describeCheck(entry.check.config)
        ) {
          retimed.set(key, entry.check);
        }
      }
    }
    for (const [key, { service, host, port, fingerprint }] of wanted) {
      if (this.checks.has(key) || !service.health) continue;
      const check = new EndpointCheck({
        service: service.key,
        target: { host, port },
        config: service.health,
        probe: probeFor(service.health),
        previous: retimed.get(key),
        random: this.random,
        now: this.now,
        onTransition: (c, transition) => this.onTransition(c, transition),
      });
      this.checks.set(key, { check, fingerprint });
      let keys = this.checksOf.get(service.key);
      if (!keys) this.checksOf.set(service.key, (keys = new Set()));
      keys.add(key);
      check.start();
      changed = true;
    }
    if (changed) this.publish();
    else this.current = this.current.withCatalog(services);
  }

  private forget(service: string, key: string): void {
    this.checks.delete(key);
    const keys = this.checksOf.get(service);
    keys?.delete(key);
    if (keys?.size === 0) this.checksOf.delete(service);
  }

  private onTransition(check: EndpointCheck, transition: Exclude<HealthTransition, undefined>): void {
    const fields = {
      service: check.service,
      endpoint: formatHostPort(check.target),
      check: describeCheck(check.config),
      ...(check.lastError ? { reason: check.lastError } : {}),
    };
    if (transition === 'down') this.options.logger?.warn(fields, 'endpoint failed its health check');
    else if (transition === 'up') this.options.logger?.info(fields, 'endpoint passes its health check again');
    if (transition !== 'confirmed') this.publish();
  }

  private publish(): void {
    if (this.publishing) {
      this.republish = true;
      return;
    }
    this.publishing = true;
    try {
      do {
        this.republish = false;
        const unhealthy = new Set<string>();
        for (const [key, { check }] of this.checks) if (!check.state.healthy) unhealthy.add(key);
        this.current = new HealthSnapshot(++this.revision, this.options.catalog.services(), unhealthy);
        for (const listener of this.listeners) listener(this.current);
      } while (this.republish);
    } finally {
      this.publishing = false;
    }
  }
}

/** The keys whose service object differs between two generations of the catalog (gone ones included). */
function changedKeys(
  before: ReadonlyMap<string, LocalService>,
  after: ReadonlyMap<string, LocalService>,
): Set<string> {
  const keys = new Set<string>();
  for (const [key, service] of after) if (before.get(key) !== service) keys.add(key);
  for (const key of before.keys()) if (!after.has(key)) keys.add(key);
  return keys;
}

const fingerprints = new WeakMap<HealthCheckConfig, string>();

/** The whole health config as text: a check restarts when it changes. */
function fingerprintOf(health: HealthCheckConfig): string {
  let text = fingerprints.get(health);
  if (text === undefined) fingerprints.set(health, (text = JSON.stringify(health)));
  return text;
}

/** What a check probes, without its timings: `http <path>`, `grpc [service]` or `tcp`. */
function describeCheck(health: HealthCheckConfig): string {
  const config = health as { http?: unknown; grpc?: unknown };
  if (typeof config.http === 'string') return `http ${config.http}`;
  if (config.grpc === true) return 'grpc';
  if (typeof config.grpc === 'string') return `grpc ${config.grpc}`;
  return 'tcp';
}
