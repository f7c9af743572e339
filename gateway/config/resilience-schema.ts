// The failover and resilience settings of the gateway config: the fabric-wide `failover:` section (the
// default failover policy, peer-gateway probes, outlier detection, retry budget and the default retries,
// timeouts and circuit breaker) and the per-service overrides (`services[].failover`, `retries`,
// `timeouts`, `circuitBreaker`, `rateLimit`). Parsed strictly, then normalized (durations → …Ms) with
// cross-field checks that report every problem with its path. The defaults make failover fast without
// tuning: a frozen peer gateway is out within 2 s (see README "Failover").
import { z } from 'zod';
import type { ConfigProblem } from './config-error.js';
import { DNS_LABEL, duration, optionalDuration } from './schema-primitives.js';

const clusterName = z
  .string()
  .regex(DNS_LABEL, 'cluster names are DNS labels: lower-case letters, digits and "-", at most 63');

/** What a retry may follow, beyond a connection that failed before any byte was sent (always retried). */
export const RETRY_CONDITIONS = ['5xx', 'gateway-error', 'reset', 'unavailable', 'timeout'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

const weight = z.number().int().min(1, 'weights are at least 1').max(10_000);
const priority = z.number().int().min(0).max(100);

/** The failover policy fields; every one optional so a service can override just one. */
const policyFields = {
  mode: z.enum(['locality', 'ordered']).optional(),
  order: z.array(clusterName).optional(),
  priorities: z.record(clusterName, priority).optional(),
  weights: z.record(clusterName, weight).optional(),
  holdDown: optionalDuration(),
  failbackRamp: optionalDuration(),
};

const retryFields = {
  attempts: z.number().int().min(0).max(10).optional(),
  on: z.array(z.enum(RETRY_CONDITIONS)).optional(),
  nonIdempotent: z.boolean().optional(),
};

const timeoutFields = {
  request: optionalDuration(),
  perTry: optionalDuration(),
  idle: optionalDuration(),
};

const circuitBreakerFields = {
  maxConcurrent: z.number().int().min(1).optional(),
  maxPending: z.number().int().min(0).optional(),
};

const rateLimit = z.strictObject({
  requestsPerSecond: z.number().positive('requestsPerSecond must be above 0').max(1_000_000),
  burst: z.number().int().min(1).optional(),
});

/** Per-service overrides, merged field by field over the fabric-wide `failover:` section. */
export const serviceResilienceFields = {
  failover: z.strictObject(policyFields).optional(),
  retries: z.strictObject(retryFields).optional(),
  timeouts: z.strictObject(timeoutFields).optional(),
  circuitBreaker: z.strictObject(circuitBreakerFields).optional(),
  rateLimit: rateLimit.optional(),
};

const probeTiming = (interval: string, timeout: string, rise: number, fall: number) =>
  z
    .strictObject({
      interval: duration(interval, 10),
      timeout: duration(timeout, 10),
      rise: z.number().int().min(1).max(100).default(rise),
      fall: z.number().int().min(1).max(100).default(fall),
    })
    .prefault({});

export const FAILOVER_DEFAULTS = {
  mode: 'locality',
  holdDown: '30s',
  failbackRamp: '30s',
  peerProbe: { interval: '250ms', timeout: '1s', rise: 2, fall: 2 },
  outlierDetection: {
    consecutiveLocalOriginFailures: 3,
    consecutive5xx: 5,
    baseEjectionTime: '5s',
    maxEjectionTime: '60s',
    maxEjectionPercent: 50,
    failurePercentage: { threshold: 50, minRequests: 20, window: '10s' },
  },
  retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, window: '10s' },
  retries: { attempts: 2, on: ['gateway-error', 'reset', 'unavailable', 'timeout'] as RetryCondition[] },
  timeouts: { request: '15s', perTry: '0s', idle: '5m' },
  circuitBreaker: { maxConcurrent: 10_000, maxPending: 1_000 },
} as const;

const D = FAILOVER_DEFAULTS;

export const failoverConfigSchema = z
  .strictObject({
    mode: z.enum(['locality', 'ordered']).default(D.mode),
    order: z.array(clusterName).default([]),
    priorities: z.record(clusterName, priority).default({}),
    weights: z.record(clusterName, weight).default({}),
    holdDown: duration(D.holdDown),
    failbackRamp: duration(D.failbackRamp),
    peerProbe: probeTiming(D.peerProbe.interval, D.peerProbe.timeout, D.peerProbe.rise, D.peerProbe.fall),
    outlierDetection: z
      .strictObject({
        consecutiveLocalOriginFailures: z
          .number()
          .int()
          .min(1)
          .default(D.outlierDetection.consecutiveLocalOriginFailures),
        consecutive5xx: z.number().int().min(1).default(D.outlierDetection.consecutive5xx),
        baseEjectionTime: duration(D.outlierDetection.baseEjectionTime, 1),
        maxEjectionTime: duration(D.outlierDetection.maxEjectionTime, 1),
        maxEjectionPercent: z.number().int().min(0).max(100).default(D.outlierDetection.maxEjectionPercent),
        failurePercentage: z
          .strictObject({
            threshold: z
              .number()
              .int()
              .min(0)
              .max(100)
              .default(D.outlierDetection.failurePercentage.threshold),
            minRequests: z.number().int().min(1).default(D.outlierDetection.failurePercentage.minRequests),
            window: duration(D.outlierDetection.failurePercentage.window, 100),
          })
          .prefault({}),
      })
      .prefault({}),
    retryBudget: z
      .strictObject({
        ratio: z.number().min(0).max(10).default(D.retryBudget.ratio),
        minRetriesPerSecond: z.number().int().min(0).default(D.retryBudget.minRetriesPerSecond),
        window: duration(D.retryBudget.window, 1000),
      })
      .prefault({}),
    retries: z
      .strictObject({
        attempts: z.number().int().min(0).max(10).default(D.retries.attempts),
        on: z.array(z.enum(RETRY_CONDITIONS)).default([...D.retries.on]),
        nonIdempotent: z.boolean().default(false),
      })
      .prefault({}),
    timeouts: z
      .strictObject({
        request: duration(D.timeouts.request),
        perTry: duration(D.timeouts.perTry),
        idle: duration(D.timeouts.idle),
      })
      .prefault({}),
    circuitBreaker: z
      .strictObject({
        maxConcurrent: z.number().int().min(1).default(D.circuitBreaker.maxConcurrent),
        maxPending: z.number().int().min(0).default(D.circuitBreaker.maxPending),
      })
      .prefault({}),
  })
  .prefault({});

type ParsedFailover = z.output<typeof failoverConfigSchema>;
type ParsedServiceFields = {
  [K in keyof typeof serviceResilienceFields]: z.output<(typeof serviceResilienceFields)[K]>;
};

// ---- normalized types ---------------------------------------------------------------------------

export interface FailoverPolicyConfig {
  /** locality: same region → same cloud → others (RTT breaks ties); ordered: the `order` list. */
  readonly mode: 'locality' | 'ordered';
  /** ordered mode: the clusters after the local one, in order; unlisted clusters get no traffic. */
  readonly order: readonly string[];
  /** Explicit priority tiers (lower first); clusters not listed get a tier from the mode. */
  readonly priorities: Readonly<Record<string, number>>;
  /** Active-active shares within a tier; a tier without weights is served by its nearest cluster. */
  readonly weights: Readonly<Record<string, number>>;
  /** A recovered cluster waits this long before it gets traffic back. */
  readonly holdDownMs: number;
  /** …then its share grows linearly over this long (0: at once). */
  readonly failbackRampMs: number;
}

export interface ProbeConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
}

export interface OutlierDetectionConfig {
  /** Connect refused/timed out, reset, TLS or identity failure in a row → ejected. */
  readonly consecutiveLocalOriginFailures: number;
  /** 5xx answers in a row → ejected. */
  readonly consecutive5xx: number;
  /** First ejection lasts this long; the n-th lasts n times as long… */
  readonly baseEjectionMs: number;
  /** …up to this. */
  readonly maxEjectionMs: number;
  /** At most this share of a group is ejected at once (at least one member may always be). */
  readonly maxEjectionPercent: number;
  /**
   * Envoy's failure-percentage ejection, for members that fail often but not in a row (a 503 every
   * other request): at least `threshold`% failures (local-origin or 5xx) among at least `minRequests`
   * attempts within one `windowMs` → ejected. threshold 0: off.
   */
  readonly failurePercentage: FailurePercentageConfig;
}

export interface FailurePercentageConfig {
  readonly threshold: number;
  readonly minRequests: number;
  readonly windowMs: number;
}

export interface RetryBudgetConfig {
  /** Retries may add this share of the requests seen in the window. */
  readonly ratio: number;
  /** …plus this many retries per second whatever the traffic. */
  readonly minRetriesPerSecond: number;
  readonly windowMs: number;
}

export interface RetryConfig {
  /** Retries after the first try (0: none, not even after a connection failure). */
  readonly attempts: number;
  /** What else is retried (idempotent requests only, unless nonIdempotent). */
  readonly on: readonly RetryCondition[];
  /** Apply `on` to every method (POST, PATCH, …), not just idempotent ones. */
  readonly nonIdempotent: boolean;
}

/**
 * `requestMs` and `perTryMs` run until the response head arrives; after it, only `idleMs` bounds an
 * answer, by its progress, so a streaming response may last as long as it moves. Tunnels (WebSocket,
 * CONNECT, `tcp:`) are bounded by none of them.
 */
export interface TimeoutConfig {
  /** From the request head to the response head, retries included (then 504); 0: none. */
  readonly requestMs: number;
  /** One try, until its response head (then the try counts as a timeout and may be retried); 0: none. */
  readonly perTryMs: number;
  /** After the response head: no byte moved either way for this long cuts the stream; 0: never. */
  readonly idleMs: number;
}

export interface CircuitBreakerConfig {
  /** Requests in flight per service and destination cluster. */
  readonly maxConcurrent: number;
  /** Requests waiting for a slot beyond that; more are refused (503 OVERLOADED). */
  readonly maxPending: number;
}

export interface RateLimitConfig {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

/** The fabric-wide `failover:` section, fully defaulted. */
export interface FailoverConfig {
  readonly policy: FailoverPolicyConfig;
  readonly peerProbe: ProbeConfig;
  readonly outlierDetection: OutlierDetectionConfig;
  readonly retryBudget: RetryBudgetConfig;
  readonly retries: RetryConfig;
  readonly timeouts: TimeoutConfig;
  readonly circuitBreaker: CircuitBreakerConfig;
}

/** A service's own settings as written (only what it overrides). */
export interface ServiceResilienceOverrides {
  readonly failover?: Partial<FailoverPolicyConfig>;
  readonly retries?: Partial<RetryConfig>;
  readonly timeouts?: Partial<TimeoutConfig>;
  readonly circuitBreaker?: Partial<CircuitBreakerConfig>;
  readonly rateLimit?: RateLimitConfig;
}

// ---- normalization ------------------------------------------------------------------------------

export function normalizeFailoverConfig(
  parsed: ParsedFailover,
  ownCluster: string,
  problems: ConfigProblem[],
): FailoverConfig {
  const policy: FailoverPolicyConfig = {
    mode: parsed.mode,
    order: parsed.order,
    priorities: parsed.priorities,
    weights: parsed.weights,
    holdDownMs: parsed.holdDown,
    failbackRampMs: parsed.failbackRamp,
  };
  checkPolicy(policy, 'failover', ownCluster, problems);
  const probe = parsed.peerProbe;
  const od = parsed.outlierDetection;
  if (od.maxEjectionTime < od.baseEjectionTime) {
    problems.push({
      path: 'failover.outlierDetection.maxEjectionTime',
      message: 'must be at least baseEjectionTime',
    });
  }
  const timeouts = {
    requestMs: parsed.timeouts.request,
    perTryMs: parsed.timeouts.perTry,
    idleMs: parsed.timeouts.idle,
  };
  checkTimeouts(timeouts, 'failover.timeouts', problems);
  return {
    policy,
    peerProbe: {
      intervalMs: probe.interval,
      timeoutMs: probe.timeout,
      rise: probe.rise,
      fall: probe.fall,
    },
    outlierDetection: {
      consecutiveLocalOriginFailures: od.consecutiveLocalOriginFailures,
      consecutive5xx: od.consecutive5xx,
      baseEjectionMs: od.baseEjectionTime,
      maxEjectionMs: od.maxEjectionTime,
      maxEjectionPercent: od.maxEjectionPercent,
      failurePercentage: {
        threshold: od.failurePercentage.threshold,
        minRequests: od.failurePercentage.minRequests,
        windowMs: od.failurePercentage.window,
      },
    },
    retryBudget: {
      ratio: parsed.retryBudget.ratio,
      minRetriesPerSecond: parsed.retryBudget.minRetriesPerSecond,
      windowMs: parsed.retryBudget.window,
    },
    retries: parsed.retries,
    timeouts,
    circuitBreaker: parsed.circuitBreaker,
  };
}

/** A service's overrides with durations in ms; checked against the fabric defaults they merge over. */
export function normalizeServiceResilience(
  parsed: ParsedServiceFields,
  path: string,
  defaults: FailoverConfig,
  ownCluster: string,
  problems: ConfigProblem[],
): ServiceResilienceOverrides {
  const out: {
    failover?: Partial<FailoverPolicyConfig>;
    retries?: Partial<RetryConfig>;
    timeouts?: Partial<TimeoutConfig>;
    circuitBreaker?: Partial<CircuitBreakerConfig>;
    rateLimit?: RateLimitConfig;
  } = {};
  if (parsed.failover) {
    const { holdDown, failbackRamp, ...rest } = parsed.failover;
    const failover: Partial<FailoverPolicyConfig> = {
      ...dropUndefined(rest),
      ...(holdDown === undefined ? {} : { holdDownMs: holdDown }),
      ...(failbackRamp === undefined ? {} : { failbackRampMs: failbackRamp }),
    };
    checkPolicy({ ...defaults.policy, ...failover }, `${path}.failover`, ownCluster, problems);
    out.failover = failover;
  }
  if (parsed.retries) out.retries = dropUndefined(parsed.retries);
  if (parsed.timeouts) {
    const { request, perTry, idle } = parsed.timeouts;
    const timeouts: Partial<TimeoutConfig> = {
      ...(request === undefined ? {} : { requestMs: request }),
      ...(perTry === undefined ? {} : { perTryMs: perTry }),
      ...(idle === undefined ? {} : { idleMs: idle }),
    };
    checkTimeouts({ ...defaults.timeouts, ...timeouts }, `${path}.timeouts`, problems);
    out.timeouts = timeouts;
  }
  if (parsed.circuitBreaker) out.circuitBreaker = dropUndefined(parsed.circuitBreaker);
  if (parsed.rateLimit) {
    const { requestsPerSecond, burst } = parsed.rateLimit;
    out.rateLimit = { requestsPerSecond, burst: burst ?? Math.max(1, Math.ceil(requestsPerSecond)) };
  }
  return out;
}

function checkPolicy(
  policy: FailoverPolicyConfig,
  path: string,
  ownCluster: string,
  problems: ConfigProblem[],
): void {
  const remote = policy.order.filter((c) => c !== ownCluster);
  if (policy.mode === 'ordered' && remote.length === 0) {
    problems.push({
      path: `${path}.order`,
      message: 'mode ordered needs the failover clusters listed in order (e.g. [gcp-euw1, azure-weu])',
    });
  }
  const seen = new Set<string>();
  for (const cluster of policy.order) {
    if (seen.has(cluster))
      problems.push({ path: `${path}.order`, message: `cluster ${cluster} is listed twice` });
    seen.add(cluster);
  }
}

function checkTimeouts(timeouts: TimeoutConfig, path: string, problems: ConfigProblem[]): void {
  if (timeouts.requestMs > 0 && timeouts.perTryMs > timeouts.requestMs) {
    problems.push({ path: `${path}.perTry`, message: 'must not be longer than the request timeout' });
  }
}

function dropUndefined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) out[key] = field;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
