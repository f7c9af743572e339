// Feedback from the data path, one report per upstream attempt, for health and balancing (outlier
// ejection, retries): who was tried, what came back, and whose fault a failure was. Envoy's split:
// local-origin failures are the gateway's own view (connect refused, reset, timeout, wrong identity);
// upstream-origin failures are answers the upstream gave (5xx). A caller going away is 'cancelled'
// and never counts against the upstream.
import type { GatewayErrorCode } from '../errors.js';

export type OutcomeKind = 'success' | 'local-origin' | 'upstream-origin' | 'cancelled';

export interface AttemptOutcome {
  readonly service: string;
  /** The cluster that served (or failed to serve) the attempt. */
  readonly cluster: string;
  /** host:port of the local endpoint, for attempts served in this cluster. */
  readonly endpoint?: string;
  /** The peer gateway (cluster/id@address), for attempts sent to another cluster. */
  readonly gateway?: string;
  /** The HTTP status the caller got (499 when it went away, 0 when the stream was reset). */
  readonly status: number;
  readonly kind: OutcomeKind;
  /** The gateway's error code for local-origin failures and gateway-generated answers. */
  readonly code?: GatewayErrorCode;
  readonly durationMs: number;
}

/** Called synchronously when an attempt ends; must not throw and must be cheap. */
export type OutcomeListener = (outcome: AttemptOutcome) => void;
