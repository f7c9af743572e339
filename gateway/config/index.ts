// Gateway config: load, validate, and the normalized types the rest of the gateway consumes.
export { loadConfigFile, parseConfigText, parseConfigObject } from './load.js';
export type {
  GatewayConfig,
  ServiceConfig,
  HealthCheckConfig,
  DiscoveryConfig,
  ObservabilityConfig,
  TracingConfig,
} from './load.js';
export { ConfigError, type ConfigProblem } from './config-error.js';
export type { DnsConfig, DnsProviderConfig, DnsRecordConfig } from './dns-schema.js';
export { parseDurationMs, formatDuration, MAX_TIMER_MS } from './duration.js';
export { parseHostPort, formatHostPort, type HostPort } from './host-port.js';
export { servicePolicy, type ServicePolicy } from './service-policy.js';
export { planReload, type ReloadPlan } from './reload-plan.js';
export {
  FAILOVER_DEFAULTS,
  RETRY_CONDITIONS,
  type RetryCondition,
  type FailoverConfig,
  type FailoverPolicyConfig,
  type ProbeConfig,
  type OutlierDetectionConfig,
  type RetryBudgetConfig,
  type RetryConfig,
  type TimeoutConfig,
  type CircuitBreakerConfig,
  type RateLimitConfig,
  type ServiceResilienceOverrides,
} from './resilience-schema.js';
