// Observability of the data path and the fabric: golden metrics per edge (sliding window, Prometheus
// gauges), W3C traceparent, sampled access logs and span export (the OTLP exporter itself is loaded on
// demand by loadSpanExport, never from here), fabric events (failover/failback with reasons) and the
// stats record each gateway publishes through Redis for the fabric-wide view.
export {
  GoldenMetrics,
  GoldenEdge,
  type GoldenMetricsOptions,
  type GoldenSummary,
  type EdgeSummary,
} from './golden-metrics.js';
export { registerGoldenMetrics, GOLDEN_METRIC_NAMES } from './golden-prometheus.js';
export {
  LATENCY_BUCKETS,
  MIN_LATENCY_SECONDS,
  bucketOf,
  upperBoundOf,
  lowerBoundOf,
  quantileOf,
} from './latency-histogram.js';
export {
  parseTraceparent,
  formatTraceparent,
  forwardTraceparent,
  isSampledTraceparent,
  newTraceId,
  newSpanId,
  TRACEPARENT_HEADER,
  SAMPLED_FLAG,
  type TraceContext,
  type TraceSampler,
} from './trace-context.js';
export { AccessLog, type AccessLogEntry } from './access-log.js';
export { RateSampler } from './rate-sampler.js';
export {
  RequestObserver,
  ObservedRequest,
  type ListenerKind,
  type RequestFacts,
  type RequestOutcome,
  type FinishedSpan,
  type SpanSink,
} from './request-observer.js';
export { loadSpanExport, type SpanExportConfig } from './span-export.js';
export { DataPathObservers, type DataPathObservability } from './data-path-observers.js';
export type { FabricEvent, FabricEventKind } from './fabric-event.js';
export { latestEvents } from './fabric-event.js';
export { clusterTransitions } from './cluster-transitions.js';
export { FabricEvents, type FabricEventsOptions } from './fabric-events.js';
export { fabricEventOfFailover } from './failover-report.js';
export { FabricStats, peerLinksOf, type FabricStatsOptions, type FabricStatsStatus } from './fabric-stats.js';
