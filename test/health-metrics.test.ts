// FailoverMetrics and the failover log lines: gauges read their sources at scrape time, counters follow
// the events of the real components (an outlier ejection, a failover and failback, a refused retry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import {
  FailoverMetrics,
  LocalHealthChecker,
  PeerHealthProber,
  logFailoverEvent,
  logOutlierEvent,
} from '../gateway/health/index.js';
import {
  CircuitBreaker,
  FailoverPolicy,
  OutlierTracker,
  RetryBudget,
  type FailoverDecision,
  type FailoverEvent,
} from '../gateway/resilience/index.js';
import { LocalCatalog } from '../gateway/catalog/index.js';
import { parseTestConfig } from './helpers/gateway-config.js';
import { waitFor } from './helpers/wait.js';

test('metrics expose health, RTT, ejections, shares, failovers, retries and refusals', async (t) => {
  const config = parseTestConfig([{ name: 'hello', endpoints: ['127.0.7.1:8080'] }]);
  const checker = new LocalHealthChecker({ catalog: new LocalCatalog(config.services) });
  checker.start();
  t.after(() => checker.close());
  let peerDown = false;
  const prober = new PeerHealthProber({
    intervalMs: 20,
    timeoutMs: 100,
    rise: 1,
    fall: 1,
    ping: () => (peerDown ? Promise.reject(new Error('no answer')) : Promise.resolve(12.5)),
  });
  prober.setPeers([{ key: 'gcp-euw1/g1@127.0.2.1:4143', cluster: 'gcp-euw1' }]);
  prober.start();
  t.after(() => prober.close());
  const clock = { t: 0 };
  const tracker = new OutlierTracker({ ...config.failover.outlierDetection, now: () => clock.t });
  const events: FailoverEvent[] = [];
  const policy = new FailoverPolicy({
    service: 'hello.default',
    cluster: 'aws-use1',
    locality: config.locality,
    policy: config.failover.policy,
    now: () => clock.t,
    onEvent: (e) => events.push(e),
  });
  let decision: FailoverDecision = policy.evaluate([]);
  const breaker = new CircuitBreaker({ maxConcurrent: 1, maxPending: 0 });
  const budget = new RetryBudget({ ...config.failover.retryBudget, now: () => clock.t });

  const registry = new Registry();
  const metrics = new FailoverMetrics(registry, {
    endpoints: () => checker.details(),
    peers: () => prober.state(),
    outliers: () => tracker.state(),
    decisions: () => [{ service: 'hello.default', decision }],
    breakers: () => [{ service: 'hello.default', cluster: 'gcp-euw1', state: breaker.state() }],
    budgets: () => [{ service: 'hello.default', state: budget.state() }],
  });
  tracker.subscribe((e) => metrics.outlierEvent(e));

  const gcp = {
    name: 'gcp-euw1',
    locality: { cloud: 'gcp', region: 'eu' },
    freshness: 'live' as const,
    healthyEndpoints: 1,
    ejected: false,
  };
  const local = {
    name: 'aws-use1',
    locality: config.locality,
    freshness: 'live' as const,
    healthyEndpoints: 1,
    ejected: false,
  };
  decision = policy.evaluate([local, gcp]);
  decision = policy.evaluate([{ ...local, healthyEndpoints: 0 }, gcp]);
  for (const e of events) metrics.failoverEvent(e);
  for (let i = 0; i < 3; i++)
    tracker.record({
      service: 'hello.default',
      cluster: 'aws-use1',
      endpoint: '127.0.7.1:8080',
      status: 502,
      kind: 'local-origin',
      code: 'UPSTREAM_CONNECT',
      durationMs: 1,
    });
  metrics.retry('hello.default', 'not-sent');
  breaker.acquire({ slotGranted: () => undefined });
  if (breaker.acquire({ slotGranted: () => undefined }) === 'rejected')
    metrics.refusedBy('circuit-breaker', 'hello.default', 'gcp-euw1');

  await waitFor('a peer RTT sample', () => prober.rttMs('gcp-euw1/g1@127.0.2.1:4143') !== undefined, 5000);
  const text = await registry.metrics();
  const expected = [
    'weft_endpoint_health{service="hello.default",endpoint="127.0.7.1:8080",status="unchecked"} 1',
    'weft_peer_gateway_up{cluster="gcp-euw1",gateway="gcp-euw1/g1@127.0.2.1:4143"} 1',
    'weft_peer_gateway_rtt_seconds{cluster="gcp-euw1",gateway="gcp-euw1/g1@127.0.2.1:4143"} 0.0125',
    'weft_outlier_ejections_total{scope="endpoint",group="hello.default",reason="consecutive-local-origin-failures"} 1',
    'weft_outlier_ejected{scope="endpoint",group="hello.default",panic="1"} 1',
    'weft_failover_share{service="hello.default",cluster="gcp-euw1",mode="normal"} 1',
    'weft_failover_share{service="hello.default",cluster="aws-use1",mode="normal"} 0',
    'weft_failover_events_total{service="hello.default",cluster="aws-use1",type="failover",cause="no-healthy-endpoints"} 1',
    'weft_retries_total{service="hello.default",condition="not-sent"} 1',
    'weft_requests_refused_total{service="hello.default",cluster="gcp-euw1",by="circuit-breaker"} 1',
    'weft_circuit_breaker_requests{service="hello.default",cluster="gcp-euw1",state="active"} 1',
    'weft_retry_budget_remaining{service="hello.default"} 100',
  ];
  for (const line of expected) assert.ok(text.includes(line), `missing: ${line}\n${text}`);

  // A gateway that stopped answering has no round trip: its last one would read as a live measurement.
  peerDown = true;
  await waitFor('the peer to be out', () => !prober.isHealthy('gcp-euw1/g1@127.0.2.1:4143'), 5000);
  const after = await registry.metrics();
  assert.ok(
    after.includes('weft_peer_gateway_up{cluster="gcp-euw1",gateway="gcp-euw1/g1@127.0.2.1:4143"} 0'),
  );
  assert.doesNotMatch(after, /weft_peer_gateway_rtt_seconds\{/);
});

test('failover and outlier events become one log line each, warn for trouble and info for recovery', () => {
  const lines: string[] = [];
  const logger = {
    info: (fields: object, message: string) => lines.push(`info ${message} ${JSON.stringify(fields)}`),
    warn: (fields: object, message: string) => lines.push(`warn ${message} ${JSON.stringify(fields)}`),
  };
  logFailoverEvent(logger, {
    type: 'failover',
    service: 's',
    cluster: 'a',
    cause: 'stale',
    to: ['b'],
    reason: "a's lease expired (stale); traffic moves to b",
  });
  logFailoverEvent(logger, {
    type: 'failback',
    service: 's',
    cluster: 'a',
    from: ['b'],
    reason: 'a healthy again',
  });
  logFailoverEvent(logger, {
    type: 'mode',
    service: 's',
    mode: 'panic',
    previous: 'normal',
    reason: 'every cluster is ejected',
  });
  logOutlierEvent(logger, {
    scope: 'gateway',
    type: 'ejected',
    group: 'gcp',
    member: 'g1',
    reason: 'consecutive-5xx',
    ejections: 2,
    durationMs: 10_000,
  });
  assert.deepEqual(
    lines.map((l) => l.split(' {')[0]),
    ['warn failover', 'info failback', 'warn failover mode', 'warn outlier ejected'],
  );
  assert.match(lines[0] ?? '', /"reason":"a's lease expired \(stale\); traffic moves to b"/);
  assert.match(lines[3] ?? '', /"forMs":10000/);
});
