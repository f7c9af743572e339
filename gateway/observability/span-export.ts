// Loads the OTLP span export on demand. Nothing in the gateway imports otlp-span-sink.ts (and so the
// OpenTelemetry SDK) statically: an idle gateway without `observability.tracing` never loads it, which
// test/lazy-dependencies.test.ts checks.
import type { Logger } from 'pino';
import type { SpanSink } from './request-observer.js';

export interface SpanExportConfig {
  readonly otlpEndpoint: string;
  readonly serviceName: string;
}

export async function loadSpanExport(
  config: SpanExportConfig,
  cluster: string,
  logger: Logger,
): Promise<SpanSink> {
  const { OtlpSpanSink } = await import('./otlp-span-sink.js');
  return new OtlpSpanSink({
    endpoint: config.otlpEndpoint,
    serviceName: config.serviceName,
    cluster,
    logger,
  });
}
