// What every downstream answer has in common, whatever the protocol: it belongs to one route target,
// knows when it started, finishes exactly once, and then feeds the request metrics and the outcome
// listener. Subclasses write the protocol (HTTP/1.1 response, HTTP/2 stream).
import type { GatewayError, GatewayErrorCode } from '../errors.js';
import type { Exchange, HeaderMap, ResponseSink } from '../upstream/exchange.js';
import type { OutcomeKind, OutcomeListener } from '../routing/outcome.js';
import type { AttemptTarget, TargetStats } from '../routing/route-table.js';
import { ERROR_HEADER } from '../routing/proxy-headers.js';
import { isLocalOriginFailure } from '../routing/error-status.js';

export abstract class DownstreamSink implements ResponseSink {
  /** The upstream exchange, cancelled when the caller goes away first. */
  exchange: Exchange | undefined;
  /** Who the attempt went to (outcome reports). Set by the router after the pick. */
  target: AttemptTarget | undefined;
  /** Where the request is counted; the router replaces the "no route" default after the pick. */
  stats: TargetStats;
  readonly grpc: boolean;
  protected status = 0;
  protected finished = false;
  private readonly startedAtMs: number;
  private readonly onOutcome: OutcomeListener | undefined;

  constructor(grpc: boolean, fallbackStats: TargetStats, onOutcome: OutcomeListener | undefined) {
    this.grpc = grpc;
    this.stats = fallbackStats;
    this.onOutcome = onOutcome;
    this.startedAtMs = performance.now();
  }

  abstract head(status: number, headers: HeaderMap, endStream: boolean): void;
  abstract data(chunk: Buffer): boolean;
  abstract onDrain(resume: () => void): void;
  abstract end(trailers: HeaderMap | null): void;
  abstract fail(err: GatewayError): void;

  /** The caller went away before the answer was complete. */
  protected downstreamGone(): void {
    if (this.finished) return;
    this.exchange?.cancel();
    this.complete(499, 'cancelled', 'DOWNSTREAM_CANCELLED');
  }

  /** Records the attempt once: metrics child and outcome listener. */
  protected complete(status: number, kind: OutcomeKind, code?: GatewayErrorCode): void {
    if (this.finished) return;
    this.finished = true;
    const durationMs = performance.now() - this.startedAtMs;
    const target = this.target;
    this.stats.record(status, durationMs / 1000);
    const listener = this.onOutcome;
    if (listener && target) {
      listener({
        service: target.service,
        cluster: target.cluster,
        ...(target.remote ? { gateway: target.via } : { endpoint: target.via }),
        status,
        kind,
        ...(code ? { code } : {}),
        durationMs,
      });
    }
  }

  /** Classifies a completed response: 5xx is the upstream's failure, anything else a success. */
  protected completeResponse(headers: HeaderMap | null): void {
    const status = this.status;
    if (status < 500) {
      this.complete(status, 'success');
      return;
    }
    const code = headers?.[ERROR_HEADER];
    this.complete(
      status,
      'upstream-origin',
      typeof code === 'string' ? (code as GatewayErrorCode) : undefined,
    );
  }

  protected completeFailure(status: number, err: GatewayError): void {
    this.complete(status, isLocalOriginFailure(err.code) ? 'local-origin' : 'upstream-origin', err.code);
  }
}
