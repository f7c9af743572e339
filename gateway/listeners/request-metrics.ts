// Request metrics without per-request cost: each (listener, source, service, destination) gets one
// RequestStats object, created when a route table is built and kept across tables, which counts into
// plain numbers and a bucket array. prom-client sees them only at scrape time (a collect hook for the
// counter, a histogram metric that formats the buckets itself), so the hot path does no label hashing
// and no string building.
//
// Label sets come and go with services and clusters (preview environments, canaries): those of a
// departed service or cluster (routing/departures.ts) are retired, their series leave /metrics and
// their golden-metrics edges are released. A request still in flight on a retired object is counted
// into the label set's current object, made anew if need be.
import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { GoldenEdge, GoldenMetrics } from '../observability/index.js';
import type { TargetStats } from '../routing/route-targets.js';

export const DURATION_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

export type ListenerName = 'outbound' | 'peer' | 'tcp';

interface StatsLabels {
  readonly listener: ListenerName;
  readonly source_cluster: string;
  readonly destination_service: string;
  readonly destination_cluster: string;
}

/**
 * A key of RequestStats.pending: the HTTP status, and for gRPC calls also the gRPC status, in one number
 * (no string building on the data path).
 */
function outcomeKey(status: number, grpcStatus: number | undefined): number {
  return grpcStatus === undefined ? status : status + 1000 * (grpcStatus + 1);
}

/** The weft_requests_total labels an outcomeKey stands for. */
function outcomeLabels(key: number): { code: string; grpc_status?: string } {
  const status = String(key % 1000);
  return key < 1000 ? { code: status } : { code: status, grpc_status: String(Math.floor(key / 1000) - 1) };
}

export class RequestStats implements TargetStats {
  readonly labels: StatsLabels;
  /**
   * Requests per outcome (HTTP status, and gRPC status for gRPC calls: see outcomeKey) not yet handed to
   * prom-client (0 once handed: the keys are every outcome seen).
   */
  readonly pending = new Map<number, number>();
  readonly buckets = new Float64Array(DURATION_BUCKETS_SECONDS.length + 1);
  sumSeconds = 0;
  count = 0;
  /** The golden-metrics edge this label set feeds (outbound traffic only: each edge counted once, at its source). */
  readonly golden: GoldenEdge | undefined;
  /** Set once retired: where the label set's live object is found. */
  retiredFrom: RequestMetrics | undefined;

  constructor(labels: StatsLabels, golden?: GoldenEdge) {
    this.labels = labels;
    this.golden = golden;
  }

  record(status: number, seconds: number, grpcStatus?: number): void {
    if (this.retiredFrom !== undefined) {
      const { listener, source_cluster, destination_service, destination_cluster } = this.labels;
      this.retiredFrom
        .statsFor(listener, source_cluster, destination_service, destination_cluster)
        .record(status, seconds, grpcStatus);
      return;
    }
    this.golden?.record(status, seconds, grpcStatus);
    const key = outcomeKey(status, grpcStatus);
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && seconds > (DURATION_BUCKETS_SECONDS[bucket] as number))
      bucket++;
    this.buckets[bucket] = (this.buckets[bucket] ?? 0) + 1;
    this.sumSeconds += seconds;
    this.count++;
  }
}

export class RequestMetrics {
  private readonly stats = new Map<string, RequestStats>();
  private readonly requests: Counter<
    'listener' | 'source_cluster' | 'destination_service' | 'destination_cluster' | 'code' | 'grpc_status'
  >;
  private readonly openConnections: Gauge<'listener'>;
  private readonly bytes: Counter<'listener' | 'direction'>;

  private readonly golden: GoldenMetrics | undefined;

  constructor(
    registry: Registry,
    peerConnections: () => Map<string, { connected: number; connecting: number }>,
    golden?: GoldenMetrics,
  ) {
    this.golden = golden;
    const stats = this.stats;
    this.requests = new Counter({
      name: 'weft_requests_total',
      help: 'Requests and tunnels handled, by listener, calling cluster, destination service and cluster, HTTP status (499: the caller went away) and, for gRPC calls, the gRPC status the caller got',
      labelNames: [
        'listener',
        'source_cluster',
        'destination_service',
        'destination_cluster',
        'code',
        'grpc_status',
      ],
      registers: [registry],
      collect() {
        for (const entry of stats.values()) {
          for (const [key, count] of entry.pending) {
            if (count === 0) continue;
            this.inc({ ...entry.labels, ...outcomeLabels(key) }, count);
            entry.pending.set(key, 0);
          }
        }
      },
    });
    registry.registerMetric(new DurationHistogram(stats) as unknown as Counter);
    this.openConnections = new Gauge({
      name: 'weft_open_connections',
      help: 'Open downstream connections per listener (outbound: local apps, peer: other gateways, tcp: opaque TCP)',
      labelNames: ['listener'],
      registers: [registry],
    });
    for (const listener of ['outbound', 'peer', 'tcp'] as const) this.openConnections.set({ listener }, 0);
    new Gauge({
      name: 'weft_peer_connections',
      help: 'HTTP/2 connections to peer gateways by peer cluster and state (connected, connecting)',
      labelNames: ['peer_cluster', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [cluster, counts] of peerConnections()) {
          this.set({ peer_cluster: cluster, state: 'connected' }, counts.connected);
          this.set({ peer_cluster: cluster, state: 'connecting' }, counts.connecting);
        }
      },
    });
    this.bytes = new Counter({
      name: 'weft_downstream_bytes_total',
      help: 'Bytes received from (rx) and sent to (tx) downstream connections, counted when a connection closes',
      labelNames: ['listener', 'direction'],
      registers: [registry],
    });
  }

  /**
   * The stats object for one label set; created once, then reused by every route-table generation
   * until its service or cluster departs (see retire).
   */
  statsFor(listener: ListenerName, source: string, service: string, destination: string): RequestStats {
    const key = `${listener}\u0000${source}\u0000${service}\u0000${destination}`;
    let entry = this.stats.get(key);
    if (!entry) {
      entry = new RequestStats(
        { listener, source_cluster: source, destination_service: service, destination_cluster: destination },
        listener === 'outbound' ? this.golden?.edge(source, service, destination) : undefined,
      );
      this.stats.set(key, entry);
    }
    return entry;
  }

  /**
   * Retires the label sets of departed services and clusters (as destination or as calling cluster):
   * their weft_requests_total and weft_request_duration_seconds series leave /metrics and their
   * golden-metrics edges are released.
   */
  retire(services: ReadonlySet<string>, clusters: ReadonlySet<string>): void {
    for (const [key, entry] of this.stats) {
      const labels = entry.labels;
      if (
        !services.has(labels.destination_service) &&
        !clusters.has(labels.destination_cluster) &&
        !clusters.has(labels.source_cluster)
      )
        continue;
      this.stats.delete(key);
      entry.retiredFrom = this;
      for (const key of entry.pending.keys()) this.requests.remove({ ...labels, ...outcomeLabels(key) });
      if (entry.golden) this.golden?.release(entry.golden);
    }
  }

  /** Counts an accepted downstream connection as open until it closes, then its bytes. */
  countConnection(listener: ListenerName, socket: Socket): void {
    this.openConnections.inc({ listener });
    socket.once('close', () => {
      this.openConnections.dec({ listener });
      if (socket.bytesRead > 0) this.bytes.inc({ listener, direction: 'rx' }, socket.bytesRead);
      if (socket.bytesWritten > 0) this.bytes.inc({ listener, direction: 'tx' }, socket.bytesWritten);
    });
  }
}

/**
 * weft_request_duration_seconds as prom-client's Registry reads a metric (name, help, type and
 * `get()` values with _bucket/_sum/_count names), fed from the RequestStats bucket arrays.
 */
class DurationHistogram {
  readonly name = 'weft_request_duration_seconds';
  readonly help =
    'Time from request head to the end of the response (for tunnels: the tunnel lifetime), seconds';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly stats: ReadonlyMap<string, RequestStats>;

  constructor(stats: ReadonlyMap<string, RequestStats>) {
    this.stats = stats;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: HistogramValue[] } {
    const values: HistogramValue[] = [];
    for (const entry of this.stats.values()) {
      if (entry.count === 0) continue;
      const labels = {
        listener: entry.labels.listener,
        destination_service: entry.labels.destination_service,
        destination_cluster: entry.labels.destination_cluster,
        source_cluster: entry.labels.source_cluster,
      };
      let cumulative = 0;
      DURATION_BUCKETS_SECONDS.forEach((bound, i) => {
        cumulative += entry.buckets[i] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le: bound },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { ...labels, le: '+Inf' },
        value: entry.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels, value: entry.sumSeconds });
      values.push({ metricName: `${this.name}_count`, labels, value: entry.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const entry of this.stats.values()) {
      entry.buckets.fill(0);
      entry.sumSeconds = 0;
      entry.count = 0;
    }
  }
}

interface HistogramValue {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}
