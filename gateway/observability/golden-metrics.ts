// Golden metrics per edge (source cluster → destination service in destination cluster): request rate,
// success rate and latency p50/p95/p99 over a sliding window, the way `linkerd viz stat` shows them.
//
// Cost on the data path: the data plane asks for one GoldenEdge per label set when it builds a route
// table (like RequestStats) and calls `edge.record(status, seconds)` once per finished request: three
// typed-array increments and one Math.log2, no allocation, no clock read, no map lookup. The window is
// a ring of `slots` time slots; a timer (or any read) advances the ring and zeroes the slot it enters, so
// old traffic ages out without touching the recorders.
import { LATENCY_BUCKETS, bucketOf, quantileOf } from './latency-histogram.js';
import { compareNames } from '../../discovery/index.js';

export interface GoldenMetricsOptions {
  /** Length of the sliding window. Default 30 s. */
  readonly windowMs?: number;
  /** Slots the window is cut into; traffic ages out one slot at a time. Default 10. */
  readonly slots?: number;
  /** Most distinct edges kept; further label sets share one `(other)` edge. Default 2000. */
  readonly maxEdges?: number;
  /** Injectable clock (epoch ms). Default Date.now. */
  readonly now?: () => number;
}

/** One edge's golden metrics over the window. Latencies in milliseconds. */
export interface EdgeSummary {
  readonly source: string;
  readonly service: string;
  readonly destination: string;
  /** Requests finished within the window. */
  readonly requests: number;
  readonly failures: number;
  /** requests / covered window, per second. */
  readonly rps: number;
  /** (requests - failures) / requests, 0..1. */
  readonly successRate: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

export interface GoldenSummary {
  /** Epoch ms of this reading. */
  readonly at: number;
  readonly windowMs: number;
  /** The part of the window with data: less than windowMs during the first window after start. */
  readonly coveredMs: number;
  /** Edges with traffic in the window, busiest first. */
  readonly edges: readonly EdgeSummary[];
}

/** Which slot of the ring is current; shared by every edge of one GoldenMetrics. */
interface SlotCursor {
  slot: number;
}

const OVERFLOW = '(other)';

function edgeKey(source: string, service: string, destination: string): string {
  return `${source}\u0000${service}\u0000${destination}`;
}

/**
 * The recorder of one edge. `record` is safe to call at any rate from the data path; it never throws.
 * Failure: an HTTP status ≥ 500, or a non-zero gRPC status when the caller passes one. A 499 (the
 * caller went away) is not counted against the destination.
 */
export class GoldenEdge {
  readonly source: string;
  readonly service: string;
  readonly destination: string;
  /** @internal per-slot request counts */
  readonly counts: Uint32Array;
  /** @internal per-slot failure counts */
  readonly failures: Uint32Array;
  /** @internal per-slot latency buckets, slot-major */
  readonly latency: Uint32Array;
  private readonly cursor: SlotCursor;

  constructor(source: string, service: string, destination: string, slots: number, cursor: SlotCursor) {
    this.source = source;
    this.service = service;
    this.destination = destination;
    this.counts = new Uint32Array(slots);
    this.failures = new Uint32Array(slots);
    this.latency = new Uint32Array(slots * LATENCY_BUCKETS);
    this.cursor = cursor;
  }

  record(status: number, seconds: number, grpcStatus = 0): void {
    const slot = this.cursor.slot;
    this.counts[slot] = (this.counts[slot] as number) + 1;
    if (status >= 500 || grpcStatus !== 0) this.failures[slot] = (this.failures[slot] as number) + 1;
    const bucket = slot * LATENCY_BUCKETS + bucketOf(seconds);
    this.latency[bucket] = (this.latency[bucket] as number) + 1;
  }

  /** @internal zeroes one slot (the ring entered it) */
  clearSlot(slot: number): void {
    this.counts[slot] = 0;
    this.failures[slot] = 0;
    this.latency.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
  }
}

export class GoldenMetrics {
  readonly windowMs: number;
  private readonly slots: number;
  private readonly slotMs: number;
  private readonly maxEdges: number;
  private readonly now: () => number;
  private readonly cursor: SlotCursor = { slot: 0 };
  private readonly edges = new Map<string, GoldenEdge>();
  private readonly scratch = new Float64Array(LATENCY_BUCKETS);
  private readonly startedAt: number;
  private slotStartedAt: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: GoldenMetricsOptions = {}) {
    const windowMs = options.windowMs ?? 30_000;
    const slots = options.slots ?? 10;
    if (!Number.isInteger(slots) || slots < 2 || slots > 600)
      throw new RangeError(`slots must be an integer 2..600, got ${slots}`);
    if (!(windowMs >= slots)) throw new RangeError(`windowMs must be at least slots (${slots}) ms`);
    this.windowMs = windowMs;
    this.slots = slots;
    this.slotMs = windowMs / slots;
    this.maxEdges = options.maxEdges ?? 2000;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.slotStartedAt = this.startedAt;
  }

  /** Starts the timer that ages traffic out (unref'd). Reads advance the window too, so it is optional. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.advance(), Math.max(50, Math.floor(this.slotMs / 4)));
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The recorder for one edge; the same object for the same labels. Call it when building route tables
   * (a map lookup), not per request.
   */
  edge(source: string, service: string, destination: string): GoldenEdge {
    const key = edgeKey(source, service, destination);
    let edge = this.edges.get(key);
    if (edge) return edge;
    if (this.edges.size >= this.maxEdges) {
      const overflow = edgeKey(OVERFLOW, OVERFLOW, OVERFLOW);
      edge = this.edges.get(overflow);
      if (edge) return edge;
      edge = new GoldenEdge(OVERFLOW, OVERFLOW, OVERFLOW, this.slots, this.cursor);
      this.edges.set(overflow, edge);
      return edge;
    }
    edge = new GoldenEdge(source, service, destination, this.slots, this.cursor);
    this.edges.set(key, edge);
    return edge;
  }

  /**
   * Forgets an edge whose label set is gone (RequestMetrics retired it), making room under maxEdges.
   * The shared `(other)` edge stays.
   */
  release(edge: GoldenEdge): void {
    if (edge.source === OVERFLOW) return;
    const key = edgeKey(edge.source, edge.service, edge.destination);
    if (this.edges.get(key) === edge) this.edges.delete(key);
  }

  get edgeCount(): number {
    return this.edges.size;
  }

  /** Moves the ring forward to `nowMs`, zeroing every slot it enters. */
  advance(nowMs = this.now()): void {
    const elapsed = nowMs - this.slotStartedAt;
    if (elapsed < this.slotMs) return;
    const steps = Math.floor(elapsed / this.slotMs);
    for (let i = 0; i < Math.min(steps, this.slots); i++) {
      const next = (this.cursor.slot + 1) % this.slots;
      for (const edge of this.edges.values()) edge.clearSlot(next);
      this.cursor.slot = next;
    }
    this.slotStartedAt += steps * this.slotMs;
  }

  /** The window's golden metrics for every edge with traffic, busiest first. */
  summary(): GoldenSummary {
    const at = this.now();
    this.advance(at);
    const full = (this.slots - 1) * this.slotMs + (at - this.slotStartedAt);
    const coveredMs = Math.max(1, Math.min(full, at - this.startedAt));
    const edges: EdgeSummary[] = [];
    for (const edge of this.edges.values()) {
      const summary = this.summarize(edge, coveredMs);
      if (summary) edges.push(summary);
    }
    edges.sort((a, b) => b.rps - a.rps || compareNames(a.service, b.service));
    return { at, windowMs: this.windowMs, coveredMs, edges };
  }

  private summarize(edge: GoldenEdge, coveredMs: number): EdgeSummary | undefined {
    let requests = 0;
    let failures = 0;
    for (let slot = 0; slot < this.slots; slot++) {
      requests += edge.counts[slot] as number;
      failures += edge.failures[slot] as number;
    }
    if (requests === 0) return undefined;
    const buckets = this.scratch;
    buckets.fill(0);
    for (let slot = 0; slot < this.slots; slot++) {
      const base = slot * LATENCY_BUCKETS;
      for (let b = 0; b < LATENCY_BUCKETS; b++)
        buckets[b] = (buckets[b] as number) + (edge.latency[base + b] as number);
    }
    const ms = (q: number) => Math.round(quantileOf(buckets, requests, q) * 1e6) / 1e3;
    return {
      source: edge.source,
      service: edge.service,
      destination: edge.destination,
      requests,
      failures,
      rps: Math.round((requests / (coveredMs / 1000)) * 1000) / 1000,
      successRate: Math.round(((requests - failures) / requests) * 1e4) / 1e4,
      p50Ms: ms(0.5),
      p95Ms: ms(0.95),
      p99Ms: ms(0.99),
    };
  }
}
