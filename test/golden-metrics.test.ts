// Golden metrics fed directly with a known request mix: counts, success rate, rate over the covered
// window, latency quantiles within one histogram bucket, ageing out of the sliding window, the
// Prometheus gauges, and the cap on distinct edges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import {
  GoldenMetrics,
  LATENCY_BUCKETS,
  bucketOf,
  quantileOf,
  registerGoldenMetrics,
  upperBoundOf,
} from '../gateway/observability/index.js';

const T0 = 1_700_000_000_000;

class Clock {
  at = T0;
  readonly now = () => this.at;
}

/** 1000 requests: 100 × 2 ms, 800 × 10 ms, 60 × 503 at 50 ms, 40 × 200 ms. */
function feedKnownMix(golden: GoldenMetrics): void {
  const edge = golden.edge('aws-use1', 'hello.default', 'gcp-euw1');
  for (let i = 0; i < 100; i++) edge.record(200, 0.002);
  for (let i = 0; i < 800; i++) edge.record(200, 0.01);
  for (let i = 0; i < 60; i++) edge.record(503, 0.05);
  for (let i = 0; i < 40; i++) edge.record(200, 0.2);
}

function near(actual: number, expected: number, relative: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected * relative,
    `${what}: ${actual} is not within ${relative * 100}% of ${expected}`,
  );
}

test('a known request mix gives its counts, success rate, rate and latency quantiles', () => {
  const clock = new Clock();
  const golden = new GoldenMetrics({ windowMs: 30_000, slots: 10, now: clock.now });
  feedKnownMix(golden);
  clock.at = T0 + 10_000;
  const summary = golden.summary();
  assert.equal(summary.edges.length, 1);
  const edge = summary.edges[0]!;
  assert.deepEqual(
    { source: edge.source, service: edge.service, destination: edge.destination },
    { source: 'aws-use1', service: 'hello.default', destination: 'gcp-euw1' },
  );
  assert.equal(edge.requests, 1000);
  assert.equal(edge.failures, 60);
  assert.equal(edge.successRate, 0.94);
  assert.equal(summary.coveredMs, 10_000, 'the window covers only the 10 s since start');
  assert.equal(edge.rps, 100);
  // Each quantile within one bucket (factor 2^(1/4) ≈ 1.19) of the true value.
  near(edge.p50Ms, 10, 0.2, 'p50');
  near(edge.p95Ms, 50, 0.2, 'p95');
  near(edge.p99Ms, 200, 0.2, 'p99');
  assert.ok(edge.p50Ms <= edge.p95Ms && edge.p95Ms <= edge.p99Ms);
});

test('traffic ages out of the sliding window one slot at a time', () => {
  const clock = new Clock();
  const golden = new GoldenMetrics({ windowMs: 30_000, slots: 10, now: clock.now });
  const edge = golden.edge('a', 'svc.ns', 'b');
  for (let i = 0; i < 100; i++) edge.record(200, 0.001);
  clock.at = T0 + 15_000;
  golden.advance();
  for (let i = 0; i < 50; i++) edge.record(500, 0.001);
  assert.equal(golden.summary().edges[0]?.requests, 150);
  clock.at = T0 + 31_000;
  const later = golden.summary().edges[0];
  assert.equal(later?.requests, 50, 'the first batch left the window after 30 s');
  assert.equal(later?.successRate, 0);
  // Covered: nine full 3 s slots plus 1 s of the current one.
  assert.equal(later?.rps, Math.round((50 / 28) * 1000) / 1000, 'rate over the covered window');
  clock.at = T0 + 46_000;
  assert.deepEqual(golden.summary().edges, [], 'an idle edge is not listed');
  clock.at = T0 + 10 * 60_000;
  golden.advance();
  edge.record(200, 0.001);
  assert.equal(golden.summary().edges[0]?.requests, 1, 'a long pause clears every slot exactly once');
});

test('failures: 5xx and non-zero gRPC status count, 499 and 4xx do not', () => {
  const clock = new Clock();
  const golden = new GoldenMetrics({ now: clock.now });
  const edge = golden.edge('a', 'greeter.default', 'b');
  edge.record(200, 0.001);
  edge.record(200, 0.001, 14);
  edge.record(499, 0.001);
  edge.record(404, 0.001);
  edge.record(502, 0.001);
  clock.at += 1000;
  const summary = golden.summary().edges[0];
  assert.equal(summary?.requests, 5);
  assert.equal(summary?.failures, 2);
  assert.equal(summary?.successRate, 0.6);
});

test('edges are listed busiest first and the same labels give the same recorder', () => {
  const clock = new Clock();
  const golden = new GoldenMetrics({ now: clock.now });
  assert.equal(golden.edge('a', 's.ns', 'b'), golden.edge('a', 's.ns', 'b'));
  for (let i = 0; i < 5; i++) golden.edge('a', 'quiet.ns', 'b').record(200, 0.001);
  for (let i = 0; i < 50; i++) golden.edge('a', 'busy.ns', 'c').record(200, 0.001);
  clock.at += 5000;
  assert.deepEqual(
    golden.summary().edges.map((e) => e.service),
    ['busy.ns', 'quiet.ns'],
  );
});

test('past maxEdges, new label sets share one (other) edge', () => {
  const golden = new GoldenMetrics({ maxEdges: 3 });
  for (let i = 0; i < 10; i++) golden.edge('a', `s${i}.ns`, 'b').record(200, 0.001);
  assert.equal(golden.edgeCount, 4, 'three edges and the shared overflow edge');
  const other = golden.summary().edges.find((e) => e.service === '(other)');
  assert.equal(other?.requests, 7);
});

test('/metrics: weft_edge_* gauges with conventional labels and quantiles', async () => {
  const clock = new Clock();
  const golden = new GoldenMetrics({ now: clock.now });
  feedKnownMix(golden);
  clock.at = T0 + 10_000;
  const registry = new Registry();
  registerGoldenMetrics(registry, golden);
  registerGoldenMetrics(registry, golden);
  const text = await registry.metrics();
  const labels =
    'source_cluster="aws-use1",destination_service="hello.default",destination_cluster="gcp-euw1"';
  assert.match(text, new RegExp(`weft_edge_requests_per_second\\{${labels}\\} 100\\n`));
  assert.match(text, new RegExp(`weft_edge_success_ratio\\{${labels}\\} 0.94\\n`));
  const p99 = new RegExp(`weft_edge_latency_seconds\\{${labels},quantile="0.99"\\} ([0-9.e-]+)\\n`).exec(
    text,
  );
  assert.ok(p99, text);
  near(Number(p99[1]), 0.2, 0.2, 'p99 seconds');
  assert.match(text, /weft_edge_window_seconds 30\n/);
  assert.match(text, /# TYPE weft_edge_latency_seconds gauge/);
});

test('histogram layout: bucket bounds, odd inputs, quantiles', () => {
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(-1), 0);
  assert.equal(bucketOf(Number.NaN), 0);
  assert.equal(bucketOf(1e9), LATENCY_BUCKETS - 1);
  for (const seconds of [0.0001, 0.001, 0.0123, 0.5, 7]) {
    const bucket = bucketOf(seconds);
    assert.ok(seconds <= upperBoundOf(bucket) * (1 + 1e-12), `${seconds} ≤ upper bound of ${bucket}`);
    assert.ok(
      bucket === 0 || seconds > upperBoundOf(bucket - 1) * (1 - 1e-12),
      `${seconds} above ${bucket - 1}`,
    );
  }
  const counts = new Float64Array(LATENCY_BUCKETS);
  assert.ok(Number.isNaN(quantileOf(counts, 0, 0.5)));
  counts[bucketOf(0.004)] = 10;
  near(quantileOf(counts, 10, 0.5), 0.004, 0.2, 'single-bucket median');
});

test('recording is cheap: a million records in well under a second', () => {
  const golden = new GoldenMetrics();
  const edge = golden.edge('a', 'svc.ns', 'b');
  const started = process.hrtime.bigint();
  for (let i = 0; i < 1_000_000; i++) edge.record(i % 50 === 0 ? 503 : 200, 0.0001 + (i % 100) * 0.0001);
  const ns = Number(process.hrtime.bigint() - started) / 1_000_000;
  console.log(`# GoldenEdge.record: ${ns.toFixed(1)} ns per request`);
  assert.ok(ns < 2000, `${ns} ns per record`);
});
