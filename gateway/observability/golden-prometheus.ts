// The golden metrics in /metrics: gauges computed at scrape time from one GoldenMetrics summary, with
// the labels weft_requests_total uses (source_cluster, destination_service, destination_cluster). They
// describe this gateway's own traffic only; the fabric-wide view lives in the admin API, because summing
// every gateway's copy in Prometheus would count each edge many times.
import { Gauge, type Registry } from 'prom-client';
import type { GoldenMetrics, GoldenSummary } from './golden-metrics.js';

export const GOLDEN_METRIC_NAMES = [
  'weft_edge_requests_per_second',
  'weft_edge_success_ratio',
  'weft_edge_latency_seconds',
  'weft_edge_window_seconds',
] as const;

const LABELS = ['source_cluster', 'destination_service', 'destination_cluster'] as const;
const QUANTILES = [
  ['0.5', 'p50Ms'],
  ['0.95', 'p95Ms'],
  ['0.99', 'p99Ms'],
] as const;

/** Registers the weft_edge_* gauges once per registry; a second call for the same registry is a no-op. */
export function registerGoldenMetrics(registry: Registry, golden: GoldenMetrics): void {
  if (registry.getSingleMetric('weft_edge_requests_per_second')) return;
  // One summary per scrape serves all gauges (they are collected one after the other).
  let cached: GoldenSummary | undefined;
  let cachedAt = 0;
  const summary = (): GoldenSummary => {
    const now = Date.now();
    if (!cached || now - cachedAt > 250) {
      cached = golden.summary();
      cachedAt = now;
    }
    return cached;
  };
  const labelsOf = (e: GoldenSummary['edges'][number]) => ({
    source_cluster: e.source,
    destination_service: e.service,
    destination_cluster: e.destination,
  });
  const registers = [registry];
  new Gauge({
    name: 'weft_edge_requests_per_second',
    help: 'Requests per second over the sliding window, per source cluster, destination service and destination cluster',
    labelNames: LABELS,
    registers,
    collect() {
      this.reset();
      for (const edge of summary().edges) this.set(labelsOf(edge), edge.rps);
    },
  });
  new Gauge({
    name: 'weft_edge_success_ratio',
    help: 'Share of requests without a 5xx (or non-zero gRPC status) over the sliding window, 0..1',
    labelNames: LABELS,
    registers,
    collect() {
      this.reset();
      for (const edge of summary().edges) this.set(labelsOf(edge), edge.successRate);
    },
  });
  new Gauge({
    name: 'weft_edge_latency_seconds',
    help: 'Request latency quantiles (0.5, 0.95, 0.99) over the sliding window, seconds',
    labelNames: [...LABELS, 'quantile'],
    registers,
    collect() {
      this.reset();
      for (const edge of summary().edges) {
        for (const [quantile, field] of QUANTILES)
          this.set({ ...labelsOf(edge), quantile }, edge[field] / 1000);
      }
    },
  });
  new Gauge({
    name: 'weft_edge_window_seconds',
    help: 'Length of the sliding window the weft_edge_* gauges cover, seconds',
    registers,
    collect() {
      this.set(golden.windowMs / 1000);
    },
  });
}
