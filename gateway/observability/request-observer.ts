// What the data path reports about each finished request or tunnel beyond the metrics: a sampled JSON
// access log line and, when span export is on, one span per request. Off by default, and then the data
// path holds no observer at all: its whole cost is one `undefined` comparison at the start of a request
// and one at its end. With an observer, the decision is made once when the request starts (the access
// log's sampler; the sampled flag of the traceparent sent upstream) and only a request that something
// wants keeps a record (ObservedRequest) until it finishes.
import type { AccessLog, AccessLogEntry } from './access-log.js';
import type { RateSampler } from './rate-sampler.js';
import { isSampledTraceparent, parseTraceparent } from './trace-context.js';

export type ListenerKind = AccessLogEntry['listener'];

/** What a request said about itself (a ProxyRequest fits). */
export interface RequestFacts {
  readonly method: string;
  readonly authority: string;
  readonly path: string;
}

/** How a request or tunnel ended, as the data path knows it at completion. */
export interface RequestOutcome {
  /** `name.namespace`; '(unknown)' when no route matched. */
  readonly service: string;
  /** The cluster that served it; '(none)' when nothing did. */
  readonly destination: string;
  /** The endpoint or peer gateway that answered. */
  readonly upstream?: string;
  readonly status: number;
  /** The GatewayError code when the gateway answered itself. */
  readonly error?: string;
  readonly durationMs: number;
}

/** One finished span, in the terms the OTLP export needs. */
export interface FinishedSpan {
  /** 'client' for the outbound side (egress), 'server' for the peer side (ingress), as Envoy does. */
  readonly kind: 'client' | 'server';
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  /** The caller's span; absent for a trace this gateway started. */
  readonly parentSpanId: string | undefined;
  readonly startEpochMs: number;
  readonly durationMs: number;
  /** Set for 5xx (and for 4xx on a client span), per the OpenTelemetry HTTP conventions. */
  readonly errorType: string | undefined;
  readonly attributes: Readonly<Record<string, string | number>>;
}

/**
 * Where finished spans go: the OTLP exporter behind it is loaded only when tracing is configured
 * (see span-export.ts). `record` never throws and never waits; `close` exports what is buffered.
 */
export interface SpanSink {
  record(span: FinishedSpan): void;
  close(): Promise<void>;
}

export interface RequestObserverOptions {
  readonly listener: ListenerKind;
  readonly accessLog: AccessLog | undefined;
  /** Samples the traces this gateway starts; present when span export is configured. */
  readonly traceSampler: RateSampler | undefined;
}

export class RequestObserver {
  readonly listener: ListenerKind;
  readonly traceSampler: RateSampler | undefined;
  /** Set once the span export has loaded (DataPlane.start); spans are recorded from then on. */
  spans: SpanSink | undefined;
  private readonly accessLog: AccessLog | undefined;

  private constructor(options: RequestObserverOptions) {
    this.listener = options.listener;
    this.accessLog = options.accessLog;
    this.traceSampler = options.traceSampler;
  }

  /** An observer for one listener, or undefined when access logs and span export are both off. */
  static when(options: RequestObserverOptions): RequestObserver | undefined {
    const logging = options.accessLog !== undefined && options.accessLog.sampleRate > 0;
    if (!logging && options.traceSampler === undefined) return undefined;
    return new RequestObserver({ ...options, accessLog: logging ? options.accessLog : undefined });
  }

  /**
   * A request starts: `traceIn` is the traceparent the caller sent (as received), `traceOut` the one sent
   * upstream. Returns the record to finish later, or undefined when neither the access log nor span
   * export wants this request.
   */
  observe(
    facts: RequestFacts | undefined,
    source: string,
    traceIn: string | undefined,
    traceOut: string | undefined,
  ): ObservedRequest | undefined {
    const log = this.accessLog !== undefined && this.accessLog.sampled();
    const span = this.spans !== undefined && traceOut !== undefined && isSampledTraceparent(traceOut);
    if (!log && !span) return undefined;
    return new ObservedRequest(this, log, span, facts, source, traceIn, traceOut);
  }

  /** @internal Called by ObservedRequest.finish. */
  report(observed: ObservedRequest, outcome: RequestOutcome): void {
    const traceOut = observed.traceOut;
    if (observed.log && this.accessLog !== undefined) {
      const facts = observed.facts;
      this.accessLog.write({
        listener: this.listener,
        source: observed.source,
        service: outcome.service,
        destination: outcome.destination,
        ...(facts ? { method: facts.method, authority: facts.authority, path: facts.path } : {}),
        status: outcome.status,
        durationMs: Math.round(outcome.durationMs * 1000) / 1000,
        ...(outcome.upstream !== undefined ? { upstream: outcome.upstream } : {}),
        ...(traceOut !== undefined ? { traceId: traceOut.slice(3, 35), traceparent: traceOut } : {}),
        ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      });
    }
    const spans = this.spans;
    if (observed.span && spans !== undefined && traceOut !== undefined) {
      spans.record(this.spanOf(observed, traceOut, outcome));
    }
  }

  private spanOf(observed: ObservedRequest, traceOut: string, outcome: RequestOutcome): FinishedSpan {
    const traceId = traceOut.slice(3, 35);
    const caller = parseTraceparent(observed.traceIn);
    const kind = this.listener === 'outbound' ? 'client' : 'server';
    const method = observed.facts?.method ?? 'CONNECT';
    const path = observed.facts?.path ?? '';
    const query = path.indexOf('?');
    const failed = outcome.status >= 500 || (kind === 'client' && outcome.status >= 400);
    return {
      kind,
      name: `${method} ${outcome.service}`,
      traceId,
      spanId: traceOut.slice(36, 52),
      parentSpanId: caller !== undefined && caller.traceId === traceId ? caller.parentId : undefined,
      startEpochMs: performance.timeOrigin + performance.now() - outcome.durationMs,
      durationMs: outcome.durationMs,
      errorType: failed ? (outcome.error ?? String(outcome.status)) : undefined,
      attributes: {
        'http.request.method': method,
        'http.response.status_code': outcome.status,
        'url.path': query < 0 ? path : path.slice(0, query),
        'server.address': observed.facts?.authority ?? '',
        'weft.listener': this.listener,
        'weft.source_cluster': observed.source,
        'weft.destination_cluster': outcome.destination,
        'weft.service': outcome.service,
        ...(outcome.upstream !== undefined ? { 'weft.upstream': outcome.upstream } : {}),
      },
    };
  }
}

/** A request something wants to hear about when it finishes; finish() exactly once. */
export class ObservedRequest {
  readonly log: boolean;
  readonly span: boolean;
  readonly facts: RequestFacts | undefined;
  readonly source: string;
  readonly traceIn: string | undefined;
  readonly traceOut: string | undefined;
  private readonly observer: RequestObserver;

  constructor(
    observer: RequestObserver,
    log: boolean,
    span: boolean,
    facts: RequestFacts | undefined,
    source: string,
    traceIn: string | undefined,
    traceOut: string | undefined,
  ) {
    this.observer = observer;
    this.log = log;
    this.span = span;
    this.facts = facts;
    this.source = source;
    this.traceIn = traceIn;
    this.traceOut = traceOut;
  }

  finish(outcome: RequestOutcome): void {
    this.observer.report(this, outcome);
  }
}
