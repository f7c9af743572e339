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
  const own = config.services.find((s) => s.key === service) ?? config.calls.find((c) => c.key === service);
  return Object.freeze({
    service,
    failover: Object.freeze({ ...defaults.policy, ...own?.failover }),
    retries: Object.freeze({ ...defaults.retries, ...own?.retries }),
    timeouts: Object.freeze({ ...defaults.timeouts, ...own?.timeouts }),
    circuitBreaker: Object.freeze({ ...defaults.circuitBreaker, ...own?.circuitBreaker }),
    rateLimit: own?.rateLimit ?? null,
  });
}
