// Resilience building blocks of the data plane, pure and clock-injected: passive outlier detection,
// retry budget and retry decisions, circuit breaking, local rate limits and the per-service failover
// policy (priority tiers, weights, hold-down and gradual failback).
export { monotonicClock, type Clock } from './clock.js';
export {
  OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierEvent,
  type OutlierListener,
  type OutlierGroupState,
  type OutlierMemberState,
  type EjectionReason,
} from './outlier-detector.js';
export {
  OutlierTracker,
  type OutlierScope,
  type ScopedOutlierEvent,
  type OutlierTrackerState,
} from './outlier-tracker.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetState } from './retry-budget.js';
export { decideRetry, type RetryRequest, type AttemptResult, type RetryVerdict } from './retry-decision.js';
export {
  CircuitBreaker,
  type Admission,
  type SlotWaiter,
  type CircuitBreakerLimits,
  type CircuitBreakerState,
} from './circuit-breaker.js';
export { RateLimiter, rateLimitedError, type RateLimiterOptions } from './rate-limiter.js';
export { FailoverPolicy, type FailoverCandidate, type FailoverPolicyOptions } from './failover-policy.js';
export {
  FailoverDecision,
  type ClusterFailoverState,
  type FailoverMode,
  type IneligibleReason,
} from './failover-decision.js';
export type { FailoverEvent } from './failover-events.js';
export { RTT_TIE_MS, rttTier } from './failover-tiers.js';
export { ResilienceRegistry, ServiceResilience, type ResilienceEvents } from './service-resilience.js';
