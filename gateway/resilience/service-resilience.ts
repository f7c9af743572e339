// The live resilience state of the services this gateway calls: per service its merged policy
// (servicePolicy), one retry budget, an optional rate limiter, and one circuit breaker per destination
// cluster. Created lazily on a service's first request and kept across config reloads (breakers keep
// counting and new limits apply to new requests; a changed failover.retryBudget starts fresh budgets).
import { servicePolicy, type GatewayConfig, type ServicePolicy } from '../config/index.js';
import { CircuitBreaker, type CircuitBreakerState } from './circuit-breaker.js';
import { RateLimiter } from './rate-limiter.js';
import { RetryBudget, type RetryBudgetState } from './retry-budget.js';

/** Counters bumped on the rare paths (a retry, a refusal); FailoverMetrics fits. */
export interface ResilienceEvents {
  retry(service: string, condition: string): void;
  refusedBy(by: 'retry-budget' | 'circuit-breaker' | 'rate-limit', service: string, cluster?: string): void;
}

/**
 * What applies to calls from peer gateways. The calling gateway holds its caller's timeouts and retries
 * a failed call on another gateway or cluster under its own policy; retrying here too would multiply the
 * executions and cut calls the caller allowed longer. So here only a try that sent nothing (connect
 * refused, timed out) is retried on another endpoint — free, nothing runs twice — and no timeout of our
 * own applies (when the caller's idle timeout cuts a stream, its reset cancels the upstream here too); the
 * circuit breaker still guards the endpoints.
 */
function peerPolicyOf(policy: ServicePolicy): ServicePolicy {
  return Object.freeze({
    ...policy,
    retries: Object.freeze({ ...policy.retries, on: [], nonIdempotent: false }),
    timeouts: Object.freeze({ requestMs: 0, perTryMs: 0, idleMs: 0 }),
    rateLimit: null,
  });
}

export class ServiceResilience {
  readonly service: string;
  policy: ServicePolicy;
  /** The policy for calls from peer gateways (see peerPolicyOf). */
  peerPolicy: ServicePolicy;
  budget: RetryBudget;
  limiter: RateLimiter | null;
  readonly events: ResilienceEvents | undefined;
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(policy: ServicePolicy, budget: RetryBudget, events: ResilienceEvents | undefined) {
    this.service = policy.service;
    this.policy = policy;
    this.peerPolicy = peerPolicyOf(policy);
    this.budget = budget;
    this.limiter = policy.rateLimit ? new RateLimiter(policy.rateLimit) : null;
    this.events = events;
  }

  /** The breaker guarding requests from here to `cluster`. */
  breaker(cluster: string): CircuitBreaker {
    let breaker = this.breakers.get(cluster);
    if (!breaker) {
      breaker = new CircuitBreaker(this.policy.circuitBreaker);
      this.breakers.set(cluster, breaker);
    }
    return breaker;
  }

  /** A reload: the new policy, and a fresh retry budget when `failover.retryBudget` changed. */
  update(policy: ServicePolicy, budget?: RetryBudget): void {
    if (budget) this.budget = budget;
    const limitChanged = JSON.stringify(policy.rateLimit) !== JSON.stringify(this.policy.rateLimit);
    this.policy = policy;
    this.peerPolicy = peerPolicyOf(policy);
    if (limitChanged) this.limiter = policy.rateLimit ? new RateLimiter(policy.rateLimit) : null;
    for (const breaker of this.breakers.values()) breaker.updateLimits(policy.circuitBreaker);
  }

  /**
   * Drops the breakers towards `clusters`. A request still holding or awaiting a slot keeps the breaker
   * it got and releases its slot there; a new request gets a fresh breaker.
   */
  forgetBreakers(clusters: ReadonlySet<string>): void {
    for (const cluster of clusters) this.breakers.delete(cluster);
  }

  breakerStates(): { cluster: string; state: CircuitBreakerState }[] {
    return [...this.breakers].map(([cluster, breaker]) => ({ cluster, state: breaker.state() }));
  }
}

export class ResilienceRegistry {
  private config: GatewayConfig;
  private readonly events: ResilienceEvents | undefined;
  private readonly services = new Map<string, ServiceResilience>();

  constructor(config: GatewayConfig, events?: ResilienceEvents) {
    this.config = config;
    this.events = events;
  }

  for(service: string): ServiceResilience {
    let state = this.services.get(service);
    if (!state) {
      state = new ServiceResilience(
        servicePolicy(this.config, service),
        new RetryBudget(this.config.failover.retryBudget),
        this.events,
      );
      this.services.set(service, state);
    }
    return state;
  }

  /**
   * Drops the state of departed services, and the circuit breakers towards departed clusters (a
   * request that comes after all the same starts afresh).
   */
  forget(services: ReadonlySet<string>, clusters: ReadonlySet<string>): void {
    for (const service of services) this.services.delete(service);
    for (const state of this.services.values()) state.forgetBreakers(clusters);
  }

  updateConfig(config: GatewayConfig): void {
    const budget = config.failover.retryBudget;
    const budgetChanged = JSON.stringify(budget) !== JSON.stringify(this.config.failover.retryBudget);
    this.config = config;
    for (const [service, state] of this.services)
      state.update(servicePolicy(config, service), budgetChanged ? new RetryBudget(budget) : undefined);
  }

  budgets(): { service: string; state: RetryBudgetState }[] {
    return [...this.services.values()].map((s) => ({ service: s.service, state: s.budget.state() }));
  }

  breakers(): { service: string; cluster: string; state: CircuitBreakerState }[] {
    return [...this.services.values()].flatMap((s) =>
      s.breakerStates().map((b) => ({ service: s.service, ...b })),
    );
  }
}
