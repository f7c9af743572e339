// The access log and span export of one data plane, one RequestObserver per listener kind, with a
// lifecycle: construct (no side effects) → start (loads the OTLP export, only when tracing is
// configured) → close (exports buffered spans, within a deadline). With access logs and tracing both
// off every observer is undefined, and the data path skips them in one comparison.
import type { Logger } from 'pino';
import { AccessLog } from './access-log.js';
import { RateSampler } from './rate-sampler.js';
import { RequestObserver, type SpanSink } from './request-observer.js';
import { loadSpanExport, type SpanExportConfig } from './span-export.js';

export interface DataPathObservability {
  /** Share of requests written as access log lines, 0..1 (0: off). */
  readonly accessLogSampleRate: number;
  /** Span export; absent: off. `sampleRate` samples the traces the gateway starts. */
  readonly tracing?: SpanExportConfig & { readonly sampleRate: number };
}

/** How long close() waits for buffered spans to reach the OTLP endpoint before giving up on them. */
const SPAN_FLUSH_MS = 2_000;

export class DataPathObservers {
  readonly outbound: RequestObserver | undefined;
  readonly peer: RequestObserver | undefined;
  /** Opaque TCP carries no traceparent: the tcp listeners only log. */
  readonly tcp: RequestObserver | undefined;
  private readonly settings: DataPathObservability;
  private readonly cluster: string;
  private readonly logger: Logger;
  private spans: SpanSink | undefined;

  /** `accessLogger` receives the access log lines; `logger` export problems. */
  constructor(settings: DataPathObservability, cluster: string, accessLogger: Logger, logger: Logger) {
    this.settings = settings;
    this.cluster = cluster;
    this.logger = logger;
    const rate = settings.accessLogSampleRate;
    const accessLog = rate > 0 ? new AccessLog(accessLogger, rate) : undefined;
    const traceSampler = settings.tracing ? new RateSampler(settings.tracing.sampleRate) : undefined;
    this.outbound = RequestObserver.when({ listener: 'outbound', accessLog, traceSampler });
    this.peer = RequestObserver.when({ listener: 'peer', accessLog, traceSampler });
    this.tcp = RequestObserver.when({ listener: 'tcp', accessLog, traceSampler: undefined });
  }

  /** Loads the span export when tracing is configured: the OpenTelemetry SDK is imported here only. */
  async start(): Promise<void> {
    const tracing = this.settings.tracing;
    if (!tracing || this.spans) return;
    const spans = await loadSpanExport(tracing, this.cluster, this.logger);
    this.spans = spans;
    if (this.outbound) this.outbound.spans = spans;
    if (this.peer) this.peer.spans = spans;
  }

  /** Exports the spans still buffered, waiting at most SPAN_FLUSH_MS; idempotent. */
  async close(): Promise<void> {
    const spans = this.spans;
    if (!spans) return;
    this.spans = undefined;
    if (this.outbound) this.outbound.spans = undefined;
    if (this.peer) this.peer.spans = undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SPAN_FLUSH_MS);
      timer.unref();
    });
    await Promise.race([spans.close().catch(() => undefined), deadline]);
    clearTimeout(timer);
  }
}
