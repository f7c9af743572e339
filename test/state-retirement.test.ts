// State kept per service and per cluster goes when they depart: a name absent for the grace is
// reported once (one back sooner keeps its state); request metrics retire the label sets of departed
// services and clusters (series, golden edge) and a request still in flight on one counts into a new
// series; a departed service loses its budget, breakers and counter series, a departed cluster its
// breakers and series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { FailoverMetrics } from '../gateway/health/index.js';
import { RequestMetrics } from '../gateway/listeners/request-metrics.js';
import { GoldenMetrics } from '../gateway/observability/index.js';
import { ResilienceRegistry, type ScopedOutlierEvent } from '../gateway/resilience/index.js';
import { Departures } from '../gateway/routing/departures.js';
import { parseTestConfig } from './helpers/gateway-config.js';

const MINUTE = 60_000;

test('a name absent for the grace is reported once; one back sooner stays', () => {
  const clock = { t: 0 };
  const departures = new Departures({ retireAfterMs: 10 * MINUTE, clock: () => clock.t });
  const present = (...names: string[]) => new Set(names);
  assert.deepEqual(departures.update(present('hello.default', 'preview.default')), []);
  assert.equal(departures.msUntilNextDue(), undefined, 'nothing absent');
  // An hour without a change, then preview leaves: its grace starts now, not when it was last seen.
  clock.t = 60 * MINUTE;
  assert.deepEqual(departures.update(present('hello.default')), []);
  assert.equal(departures.msUntilNextDue(), 10 * MINUTE);
  clock.t = 66 * MINUTE;
  assert.deepEqual(departures.update(present('hello.default', 'preview.default')), [], 'back in time');
  assert.equal(departures.msUntilNextDue(), undefined);
  clock.t = 69 * MINUTE;
  assert.deepEqual(departures.update(present('hello.default')), []);
  clock.t = 78 * MINUTE;
  assert.deepEqual(departures.update(present('hello.default')), [], 'its grace restarted when it left again');
  clock.t = 79 * MINUTE;
  assert.deepEqual(departures.update(present('hello.default')), ['preview.default']);
  assert.deepEqual(departures.update(present('hello.default')), [], 'reported once');
  clock.t = 200 * MINUTE;
  assert.deepEqual(departures.update(present('hello.default')), [], 'a present name never departs');
});

test('the label sets of a departed service or cluster leave /metrics; the others stay', async () => {
  const registry = new Registry();
  const golden = new GoldenMetrics({ maxEdges: 4 });
  const metrics = new RequestMetrics(registry, () => new Map(), golden);
  const sets = [
    metrics.statsFor('outbound', 'a', 'preview-42.default', 'b'),
    metrics.statsFor('outbound', 'a', 'hello.default', 'b'),
    metrics.statsFor('outbound', 'a', 'hello.default', 'gone'),
    metrics.statsFor('peer', 'gone', 'hello.default', 'a'),
    metrics.statsFor('peer', 'b', 'hello.default', 'a'),
    metrics.statsFor('tcp', 'a', 'db.default', 'b'),
    metrics.statsFor('outbound', 'a', '(unknown)', '(none)'),
  ];
  for (const stats of sets) stats.record(200, 0.001);
  assert.equal(golden.edgeCount, 4, 'at the cap: a new edge would be (other)');

  metrics.retire(new Set(['preview-42.default']), new Set(['gone']));

  const text = await registry.metrics();
  const requests = text
    .split('\n')
    .filter((line) => line.startsWith('weft_requests_total{'))
    .map((line) =>
      /listener="(\w+)",source_cluster="([^"]+)",destination_service="([^"]+)",destination_cluster="([^"]+)"/
        .exec(line)
        ?.slice(1)
        .join(' '),
    );
  assert.deepEqual(requests.sort(), [
    'outbound a (unknown) (none)',
    'outbound a hello.default b',
    'peer b hello.default a',
    'tcp a db.default b',
  ]);
  assert.doesNotMatch(text, /preview-42|"gone"/, 'the histogram series went too');
  assert.equal(golden.edgeCount, 2, 'two edges released');
  assert.equal(golden.edge('a', 'canary.default', 'c').service, 'canary.default', 'room for a new edge');
});

test('a request still in flight on a retired label set counts into a new series', async () => {
  const registry = new Registry();
  const metrics = new RequestMetrics(registry, () => new Map());
  const longTunnel = metrics.statsFor('tcp', 'a', 'db.default', 'b');
  longTunnel.record(200, 1);
  await registry.metrics();
  metrics.retire(new Set(['db.default']), new Set());
  assert.doesNotMatch(await registry.metrics(), /db\.default/);

  longTunnel.record(200, 660);
  longTunnel.record(499, 1);
  const text = await registry.metrics();
  assert.match(text, /weft_requests_total\{[^}]*destination_service="db.default"[^}]*code="200"\} 1\n/);
  assert.match(text, /weft_requests_total\{[^}]*destination_service="db.default"[^}]*code="499"\} 1\n/);
  assert.match(text, /weft_request_duration_seconds_count\{[^}]*destination_service="db.default"[^}]*\} 2\n/);
  assert.equal(longTunnel.count, 1, 'the retired object itself counts no more');
});

test('a departed service loses its budget, breakers and series; a departed cluster its breakers and series', async () => {
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
    for (const cluster of ['b', 'gone']) {
      resilience.for(service).breaker(cluster);
      metrics.refusedBy('circuit-breaker', service, cluster);
      metrics.failoverEvent({ type: 'failback', service, cluster, from: [], reason: 'test' });
    }
    metrics.retry(service, 'reset');
    metrics.failoverEvent({ type: 'mode', service, mode: 'panic', previous: 'normal', reason: 'test' });
    metrics.outlierEvent(ejected('endpoint', service));
  }
  metrics.outlierEvent(ejected('gateway', 'b'));
  metrics.outlierEvent(ejected('gateway', 'gone'));

  resilience.forget(new Set(['preview.default']), new Set(['gone']));
  await metrics.forget(new Set(['preview.default']), new Set(['gone']));

  const text = await registry.metrics();
  const labelsOf = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`))
      .map((line) => line.slice(name.length, line.lastIndexOf('}') + 1));
  for (const name of [
    'weft_retries_total',
    'weft_requests_refused_total',
    'weft_failover_events_total',
    'weft_circuit_breaker_requests',
    'weft_retry_budget_remaining',
  ]) {
    const series = labelsOf(name);
    assert.ok(series.length > 0, `${name} keeps hello.default`);
    for (const labels of series) {
      assert.match(labels, /service="hello.default"/, `${name} lost preview.default`);
      assert.doesNotMatch(labels, /cluster="gone"/, `${name} lost cluster gone`);
    }
  }
  assert.deepEqual(
    labelsOf('weft_outlier_ejections_total').map((labels) => /group="([^"]*)"/.exec(labels)?.[1]),
    ['hello.default', 'b'],
  );
  assert.deepEqual(
    resilience.breakers().map((b) => `${b.service}→${b.cluster}`),
    ['hello.default→b'],
  );

  // A breaker still holding a request goes too (departures are reported once); the request releases
  // its slot in the breaker it holds, and a new request starts with a fresh one.
  const busy = resilience.for('hello.default').breaker('leaving');
  assert.equal(busy.acquire({ slotGranted: () => undefined }), 'admitted');
  resilience.forget(new Set(), new Set(['leaving']));
  const fresh = resilience.for('hello.default').breaker('leaving');
  assert.notEqual(fresh, busy);
  busy.release();
  assert.equal(fresh.state().active, 0);
  assert.equal(busy.state().active, 0);
});
