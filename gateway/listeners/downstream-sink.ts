// What every downstream answer has in common, whatever the protocol: it belongs to one route target,
// knows when it started, carries the request's W3C trace on, finishes exactly once, and then feeds the
// request metrics, the outcome listener and (when on) the access log and span export. Subclasses write
// the protocol (HTTP/1.1 response, HTTP/2 stream).
import type { GatewayError, GatewayErrorCode } from '../errors.js';
import type { ObservedRequest, RequestObserver } from '../observability/index.js';
import type { Exchange, HeaderMap, ResponseSink, TracedRequest } from '../upstream/exchange.js';
import type { OutcomeKind, OutcomeListener } from '../routing/outcome.js';
import type { AttemptTarget, TargetStats } from '../routing/route-targets.js';
import { ERROR_HEADER } from '../routing/proxy-headers.js';
import {
  GrpcStatus,
  grpcStatusOfAnswer,
  grpcStatusOfFailure,
  isGrpcServerFailure,
  isLocalOriginFailure,
  isOwnLimit,
} from '../routing/error-status.js';
import { traceRequestHeaders } from './request-trace.js';

export abstract class DownstreamSink implements ResponseSink {
  /** The upstream exchange, cancelled when the caller goes away first. */
  exchange: Exchange | undefined;
  /** Who the attempt went to (outcome reports). Set by the router after the pick. */
  target: AttemptTarget | undefined;
  /** Where the request is counted; the router replaces the "no route" default after the pick. */
  stats: TargetStats;
  readonly grpc: boolean;
  /** Set by traceRequest when the access log or span export wants this request. */
  observed: ObservedRequest | undefined;
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

  /** An interim answer (1xx) ahead of the head, passed on where the caller's protocol can carry it. */
  abstract interim(status: number, headers: HeaderMap): void;
  abstract head(status: number, headers: HeaderMap, endStream: boolean): void;
  abstract data(chunk: Buffer): boolean;
  abstract onDrain(resume: () => void): void;
  abstract end(trailers: HeaderMap | null): void;
  abstract fail(err: GatewayError): void;

  /**
   * Continues the caller's W3C trace on the request's headers (a new trace when it sent none or an
   * invalid one) and, with an observer, asks whether this request is to be logged or exported.
   * `source` is the calling cluster.
   */
  traceRequest(request: TracedRequest, observer: RequestObserver | undefined, source: string): void {
    this.observed = traceRequestHeaders(request.headers, request, observer, source);
  }

  /** The answer is over (whole, failed, or its caller gone): what only a try needed is let go. */
  protected answered(): void {
    this.exchange?.answered?.();
  }

  /** The caller went away before the answer was complete. */
  protected downstreamGone(): void {
    if (this.finished) return;
    this.exchange?.cancel();
    this.complete(499, 'cancelled', 'DOWNSTREAM_CANCELLED');
  }

  /**
   * Records the attempt once: metrics child (with the gRPC status a gRPC caller got) and outcome listener
   * (unless `reportOutcome` is false).
   */
  protected complete(
    status: number,
    kind: OutcomeKind,
    code?: GatewayErrorCode,
    reportOutcome = true,
    grpcStatus?: number,
  ): void {
    if (this.finished) return;
    this.finished = true;
    this.answered();
    const durationMs = performance.now() - this.startedAtMs;
    const target = this.target;
    this.stats.record(status, durationMs / 1000, grpcStatus);
    const listener = this.onOutcome;
    if (listener && target && reportOutcome) {
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
    const observed = this.observed;
    if (observed !== undefined) {
      observed.finish({
        service: target?.service ?? '(unknown)',
        destination: target?.cluster ?? '(none)',
        ...(target ? { upstream: target.via } : {}),
        status,
        ...(code ? { error: code } : {}),
        durationMs,
      });
    }
  }

  /**
   * Classifies a completed response: 5xx, or a gRPC status that says the server failed (in `fields`, the
   * trailers or a trailers-only head), is the upstream's failure; anything else a success.
   */
  protected completeResponse(fields: HeaderMap | null): void {
    const status = this.status;
    const grpcStatus = this.grpc ? grpcStatusOfAnswer(status, fields) : undefined;
    if (status < 500 && !(this.grpc && isGrpcServerFailure(fields))) {
      this.complete(status, 'success', undefined, true, grpcStatus);
      return;
    }
    const code = fields?.[ERROR_HEADER];
    this.complete(
      status,
      'upstream-origin',
      typeof code === 'string' ? (code as GatewayErrorCode) : undefined,
      true,
      grpcStatus,
    );
  }

  /** An answer cut short after its head (a reset, a closed connection): a gRPC caller reads INTERNAL. */
  protected completeCut(status: number, err: GatewayError): void {
    this.completeFailure(status, err, this.grpc ? GrpcStatus.INTERNAL : undefined);
  }

  /**
   * Records an attempt this gateway ended with `err`; `grpcStatus` is the status a gRPC caller was
   * given (by default the one `err` maps to; none when the caller went away).
   */
  protected completeFailure(
    status: number,
    err: GatewayError,
    grpcStatus = this.grpc && err.code !== 'DOWNSTREAM_CANCELLED' ? grpcStatusOfFailure(err) : undefined,
  ): void {
    // What this gateway's own limits cut is counted, but it tells nothing about the upstream: a burst
    // over a circuit breaker must not eject the endpoint or cluster behind it.
    const kind = isLocalOriginFailure(err.code) ? 'local-origin' : 'upstream-origin';
    this.complete(status, kind, err.code, !isOwnLimit(err.code), grpcStatus);
  }
}
