// Span export over OTLP/HTTP (JSON) with the OpenTelemetry SDK. Loaded only when the config has
// `observability.tracing` (span-export.ts imports this module on demand): the SDK and the exporter are
// heavy and idle RSS is a budget item. The data path has already decided everything — trace id, this
// gateway's span id (the parent-id it forwarded), the caller's span, timing — so the SDK's tracer is
// fed those ids through a preset IdGenerator and an always-on sampler; its batch processor and exporter
// do the buffering, batching and retries, off the request path.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Context,
  type Tracer,
} from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';
import type { FinishedSpan, SpanSink } from './request-observer.js';

export interface OtlpSpanSinkOptions {
  /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces. */
  readonly endpoint: string;
  /** The resource's service.name. */
  readonly serviceName: string;
  /** The gateway's cluster (resource attribute weft.cluster). */
  readonly cluster: string;
  /** Export failures and recoveries are logged here (once per change, not per batch). */
  readonly logger: Logger;
}

/** The ids of the span being started, set just before the synchronous startSpan call that reads them. */
class PresetIds implements IdGenerator {
  traceId = '';
  spanId = '';

  generateTraceId(): string {
    return this.traceId;
  }

  generateSpanId(): string {
    return this.spanId;
  }
}

/** Logs when exports start failing and when they work again, instead of on every batch. */
class ReportingExporter implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly logger: Logger;
  private readonly endpoint: string;
  private failing = false;

  constructor(inner: SpanExporter, logger: Logger, endpoint: string) {
    this.inner = inner;
    this.logger = logger;
    this.endpoint = endpoint;
  }

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      const failed = result.code !== ExportResultCode.SUCCESS;
      if (failed && !this.failing) {
        this.logger.warn(
          { endpoint: this.endpoint, spans: spans.length, err: result.error?.message },
          'span export to the OTLP endpoint failed; spans are dropped until it answers',
        );
      } else if (!failed && this.failing) {
        this.logger.info({ endpoint: this.endpoint }, 'span export to the OTLP endpoint works again');
      }
      this.failing = failed;
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class OtlpSpanSink implements SpanSink {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly ids = new PresetIds();
  private closing: Promise<void> | undefined;

  constructor(options: OtlpSpanSinkOptions) {
    const exporter = new ReportingExporter(
      new OTLPTraceExporter({ url: options.endpoint }),
      options.logger,
      options.endpoint,
    );
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': options.serviceName,
        'weft.cluster': options.cluster,
      }),
      idGenerator: this.ids,
      sampler: new AlwaysOnSampler(),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    this.tracer = this.provider.getTracer('weft');
  }

  record(span: FinishedSpan): void {
    if (this.closing) return;
    this.ids.traceId = span.traceId;
    this.ids.spanId = span.spanId;
    const started = this.tracer.startSpan(
      span.name,
      {
        kind: span.kind === 'client' ? SpanKind.CLIENT : SpanKind.SERVER,
        startTime: span.startEpochMs,
        attributes: span.errorType ? { ...span.attributes, 'error.type': span.errorType } : span.attributes,
      },
      parentContext(span),
    );
    if (span.errorType) started.setStatus({ code: SpanStatusCode.ERROR, message: span.errorType });
    started.end(span.startEpochMs + span.durationMs);
  }

  /** Exports the spans still buffered, then stops; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.provider.shutdown();
    return this.closing;
  }
}

/** The caller's span as a remote parent, or the root context for a trace this gateway started. */
function parentContext(span: FinishedSpan): Context {
  if (span.parentSpanId === undefined) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: span.traceId,
    spanId: span.parentSpanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}
