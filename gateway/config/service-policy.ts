// The resilience settings that apply to one service as seen from this gateway: the service's own
// overrides (services[].failover, retries, timeouts, circuitBreaker, rateLimit, or for a service this
// gateway only calls, its calls[] entry) merged field by field over the fabric-wide `failover:` section;
// a service named in neither gets the fabric-wide defaults.
import type { GatewayConfig } from './load.js';
import type {
  CircuitBreakerConfig,
  FailoverPolicyConfig,
  RateLimitConfig,
  RetryConfig,
  TimeoutConfig,
} from './resilience-schema.js';

export interface ServicePolicy {
  readonly service: string;
  readonly failover: FailoverPolicyConfig;
  readonly retries: RetryConfig;
  readonly timeouts: TimeoutConfig;
  readonly circuitBreaker: CircuitBreakerConfig;
  /** Null when the service has no local rate limit. */
  readonly rateLimit: RateLimitConfig | null;
}

/** Resolves `service` (name.namespace); pure, so callers cache it per config generation. */
export function servicePolicy(config: GatewayConfig, service: string): ServicePolicy {
  const defaults = config.failover;
  const own = overridesOf(config).get(service);
  return Object.freeze({
    service,
    failover: Object.freeze({ ...defaults.policy, ...own?.failover }),
    retries: Object.freeze({ ...defaults.retries, ...own?.retries }),
    timeouts: Object.freeze({ ...defaults.timeouts, ...own?.timeouts }),
    circuitBreaker: Object.freeze({ ...defaults.circuitBreaker, ...own?.circuitBreaker }),
    rateLimit: own?.rateLimit ?? null,
  });
}

type Overrides = GatewayConfig['services'][number] | GatewayConfig['calls'][number];

/** Each config's per-service sections by key (a service's own entry before its calls[] entry). */
const overridesByConfig = new WeakMap<GatewayConfig, ReadonlyMap<string, Overrides>>();

function overridesOf(config: GatewayConfig): ReadonlyMap<string, Overrides> {
  let overrides = overridesByConfig.get(config);
  if (!overrides) {
    const byKey = new Map<string, Overrides>();
    for (const c of config.calls) byKey.set(c.key, c);
    for (const s of config.services) byKey.set(s.key, s);
    overrides = byKey;
    overridesByConfig.set(config, overrides);
  }
  return overrides;
}
