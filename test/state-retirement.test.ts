// Per-service state that comes and goes with services and clusters: request metrics retire a label set
// that no route table asked for and that counted nothing for a while (series, golden edge), late
// requests still count, the no-route label sets stay; services out of every route table are reported
// once after the grace; their retry budgets, breakers and counter series go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { FailoverMetrics } from '../gateway/health/index.js';
import { RequestMetrics } from '../gateway/listeners/request-metrics.js';
import { GoldenMetrics } from '../gateway/observability/index.js';
import { ResilienceRegistry, type ScopedOutlierEvent } from '../gateway/resilience/index.js';
import { UnroutedServices } from '../gateway/routing/unrouted-services.js';
import { parseTestConfig } from './helpers/gateway-config.js';

const MINUTE = 60_000;

function setup() {
  const clock = { t: 0 };
  const registry = new Registry();
  const golden = new GoldenMetrics({ maxEdges: 3 });
  const metrics = new RequestMetrics(registry, () => new Map(), golden, {
    retireAfterMs: 10 * MINUTE,
    clock: () => clock.t,
  });
  return { clock, registry, golden, metrics };
}

test('a label set nobody routes and that counts nothing for the grace leaves /metrics', async () => {
  const { clock, registry, golden, metrics } = setup();
  const gone = metrics.statsFor('outbound', 'a', 'preview-42.default', 'b');
  const kept = metrics.statsFor('outbound', 'a', 'hello.default', 'b');
  const noRoute = metrics.permanentStatsFor('outbound', 'a', '(unknown)', '(none)');
  gone.record(200, 0.001);
  kept.record(200, 0.001);
  noRoute.record(404, 0.001);
  assert.match(
    await registry.metrics(),
    /weft_requests_total\{[^}]*destination_service="preview-42.default"/,
  );
  assert.equal(golden.edgeCount, 3, 'at the cap: a new edge would be (other)');

  clock.t = 5 * MINUTE;
  assert.equal(metrics.retireUnused(), 0, 'both counted since the last sweep');
  clock.t = 12 * MINUTE;
  metrics.statsFor('outbound', 'a', 'hello.default', 'b');
  assert.equal(metrics.retireUnused(), 0, 'ten minutes since the traffic the last sweep saw: not yet');
  clock.t = 16 * MINUTE;
  metrics.statsFor('outbound', 'a', 'hello.default', 'b');
  assert.equal(metrics.retireUnused(), 1);

  const text = await registry.metrics();
  assert.doesNotMatch(text, /preview-42/);
  assert.match(text, /weft_requests_total\{[^}]*destination_service="hello.default"[^}]*\} 1/);
  assert.match(text, /weft_request_duration_seconds_count\{[^}]*destination_service="hello.default"/);
  assert.match(text, /weft_requests_total\{[^}]*destination_service="\(unknown\)"[^}]*code="404"\} 1/);
  assert.equal(golden.edgeCount, 2, 'the retired edge made room under maxEdges');
  assert.equal(golden.edge('a', 'canary.default', 'c').service, 'canary.default');

  clock.t = 60 * MINUTE;
  metrics.retireUnused();
  metrics.retireUnused();
  assert.match(await registry.metrics(), /destination_service="\(unknown\)"/, 'no-route sets never retire');
});

test('a request still in flight on a retired label set counts into its current object', async () => {
  const { clock, registry, metrics } = setup();
  const longTunnel = metrics.statsFor('tcp', 'a', 'db.default', 'b');
  clock.t = 11 * MINUTE;
  assert.equal(metrics.retireUnused(), 1);
  longTunnel.record(200, 660);
  longTunnel.record(499, 1);
  const text = await registry.metrics();
  assert.match(text, /weft_requests_total\{[^}]*destination_service="db.default"[^}]*code="200"\} 1/);
  assert.match(text, /weft_requests_total\{[^}]*destination_service="db.default"[^}]*code="499"\} 1/);
  assert.match(text, /weft_request_duration_seconds_count\{[^}]*destination_service="db.default"[^}]*\} 2/);
  assert.equal(longTunnel.count, 0, 'the retired object itself counts nothing');
});

test('services out of every route table are reported once, after the grace', () => {
  const clock = { t: 0 };
  const unrouted = new UnroutedServices(10 * MINUTE, () => clock.t);
  const routes = (...names: string[]) => new Map(names.map((n) => [n, true]));
  assert.deepEqual(unrouted.update(routes('hello.default', 'preview.default')), []);
  clock.t = 3 * MINUTE;
  assert.deepEqual(unrouted.update(routes('hello.default')), []);
  clock.t = 9 * MINUTE;
  assert.deepEqual(unrouted.update(routes('hello.default', 'preview.default')), [], 'back within the grace');
  clock.t = 19 * MINUTE;
  assert.deepEqual(unrouted.update(routes('hello.default')), ['preview.default']);
  assert.deepEqual(unrouted.update(routes('hello.default')), []);
  clock.t = 60 * MINUTE;
  assert.deepEqual(unrouted.update(routes('hello.default')), [], 'a routed service never goes');
});

test('a forgotten service loses its budget, breakers and counter series; others keep theirs', async () => {
  const config = parseTestConfig([
    { name: 'hello', endpoints: ['127.0.7.1:8080'] },
    { name: 'preview', endpoints: ['127.0.7.2:8080'] },
  ]);
  const registry = new Registry();
  const resilience = new ResilienceRegistry(config);
  const metrics = new FailoverMetrics(registry, {
    breakers: () => resilience.breakers(),
    budgets: () => resilience.budgets(),
  });
  const ejected = (scope: ScopedOutlierEvent['scope'], group: string): ScopedOutlierEvent => ({
    scope,
    group,
    type: 'ejected',
    member: '127.0.7.1:8080',
    reason: 'consecutive-5xx',
    ejections: 1,
    durationMs: 30_000,
  });
  for (const service of ['hello.default', 'preview.default']) {
    resilience.for(service).breaker('b');
    metrics.retry(service, 'reset');
    metrics.refusedBy('circuit-breaker', service, 'b');
    metrics.failoverEvent({ type: 'mode', service, mode: 'panic', previous: 'normal', reason: 'test' });
    metrics.outlierEvent(ejected('endpoint', service));
  }
  metrics.outlierEvent(ejected('gateway', 'b'));

  resilience.forget(['preview.default']);
  await metrics.forgetServices(['preview.default']);

  const text = await registry.metrics();
  const lines = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));
  for (const name of [
    'weft_retries_total',
    'weft_requests_refused_total',
    'weft_failover_events_total',
    'weft_circuit_breaker_requests',
    'weft_retry_budget_remaining',
  ]) {
    assert.ok(lines(name).length > 0, `${name} keeps hello.default`);
    assert.ok(
      lines(name).every((l) => l.includes('service="hello.default"')),
      `${name} lost preview.default`,
    );
  }
  assert.deepEqual(
    lines('weft_outlier_ejections_total').map((l) => /group="([^"]*)"/.exec(l)?.[1]),
    ['hello.default', 'b'],
    'endpoint ejections of the service went; the gateway scope (its group is a cluster) stays',
  );
  assert.deepEqual(
    resilience.budgets().map((b) => b.service),
    ['hello.default'],
  );
});
