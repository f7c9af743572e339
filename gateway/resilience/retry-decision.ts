// Whether a failed attempt is tried again on another endpoint or cluster, in one function so every
// listener agrees. A request that never reached an upstream (connect refused or timed out, TLS or
// identity failure, no room in the connection pool, a per-try timeout while it waited for a connection)
// is always retried, whatever its method, and costs no budget: it added no load anywhere. Anything that
// may have reached an upstream (reset after sending, per-try timeout, 5xx, gRPC UNAVAILABLE) is retried
// only for idempotent methods (RFC 9110) or when the route allows it (`nonIdempotent`), only for the
// conditions listed in `on`, and only while the retry budget lasts. A caller that went away, a response
// already streaming to the caller, or a body that cannot be replayed ends retrying.
import { neverSent, type GatewayErrorCode } from '../errors.js';
import type { OutcomeKind } from '../routing/outcome.js';
import type { RetryCondition, RetryConfig } from '../config/index.js';
import type { RetryBudget } from './retry-budget.js';
import { isIdempotent } from '../upstream/exchange.js';

/** gRPC status UNAVAILABLE. */
const GRPC_UNAVAILABLE = 14;

export interface RetryRequest {
  readonly method: string;
  /** A gRPC call (POST on the wire; its idempotency is not visible, so only `nonIdempotent` allows it). */
  readonly grpc: boolean;
  /** The body is fully buffered (or empty), so it can be sent again. */
  readonly replayable: boolean;
}

export interface AttemptResult {
  readonly kind: OutcomeKind;
  /** The gateway's error code for a local-origin failure. */
  readonly code?: GatewayErrorCode;
  /** HTTP status of the upstream's answer (0 when there was none). */
  readonly status: number;
  /** grpc-status of a trailers-only answer, when the upstream gave one. */
  readonly grpcStatus?: number;
  /** Whether any byte of the request was written towards the upstream. */
  readonly requestSent: boolean;
  /** Whether any byte of the response was already forwarded to the caller. */
  readonly responseStarted: boolean;
}

export type RetryVerdict =
  | { readonly retry: true; readonly condition: 'not-sent' | RetryCondition }
  | {
      readonly retry: false;
      readonly reason: string;
      /** The limit that stopped a retry the request was otherwise due (a refusal worth counting). */
      readonly refusedBy?: 'retry-budget' | 'circuit-breaker';
    };

const BUDGET_EXHAUSTED: RetryVerdict = {
  retry: false,
  reason: 'retry budget exhausted',
  refusedBy: 'retry-budget',
};

const DESTINATION_FULL: RetryVerdict = {
  retry: false,
  reason: 'the circuit breaker of the retry’s destination is full',
  refusedBy: 'circuit-breaker',
};

/**
 * Decides about retry number `retriesSoFar + 1`. Spends one unit of `budget` when it says yes to
 * anything but a not-sent failure. `destinationFull`: the circuit breaker where the retry would go
 * would refuse it now. Then no retry is made and the caller hears this try's own answer, not 503
 * OVERLOADED for a cluster the request never reached (as a retry the budget refuses).
 */
export function decideRetry(
  policy: RetryConfig,
  budget: RetryBudget,
  request: RetryRequest,
  result: AttemptResult,
  retriesSoFar: number,
  destinationFull = false,
): RetryVerdict {
  if (result.kind === 'success') return { retry: false, reason: 'succeeded' };
  if (result.kind === 'cancelled') return { retry: false, reason: 'the caller went away' };
  if (result.responseStarted) return { retry: false, reason: 'the response already reached the caller' };
  if (retriesSoFar >= policy.attempts) return { retry: false, reason: `${policy.attempts} retries spent` };
  if (!request.replayable) return { retry: false, reason: 'the request body cannot be replayed' };
  if (!result.requestSent && result.code && neverSent(result.code)) {
    return destinationFull ? DESTINATION_FULL : { retry: true, condition: 'not-sent' };
  }
  const condition = conditionOf(result);
  if (!condition) return { retry: false, reason: 'not a retryable failure' };
  const listed =
    policy.on.includes(condition) || (condition === 'gateway-error' && policy.on.includes('5xx'));
  if (!listed) return { retry: false, reason: `retries on ${condition} are off` };
  const idempotent = isIdempotent(request);
  if (!idempotent && !policy.nonIdempotent) {
    return { retry: false, reason: `${request.grpc ? 'gRPC' : request.method} is not idempotent` };
  }
  if (destinationFull) return DESTINATION_FULL;
  if (!budget.tryRetry()) return BUDGET_EXHAUSTED;
  return { retry: true, condition };
}

/** The most specific listed condition a failed attempt meets. */
function conditionOf(result: AttemptResult): RetryCondition | undefined {
  if (result.kind === 'local-origin') {
    if (result.code === 'UPSTREAM_TIMEOUT') return 'timeout';
    if (result.code === 'UPSTREAM_RESET' || result.code === 'UPSTREAM_CONNECT') return 'reset';
    return undefined;
  }
  if (result.grpcStatus === GRPC_UNAVAILABLE) return 'unavailable';
  if (result.status === 502 || result.status === 503 || result.status === 504) return 'gateway-error';
  if (result.status >= 500 && result.status <= 599) return '5xx';
  return undefined;
}
