// /metrics text rendered a family per event-loop turn (gateway/admin/metrics-text.ts): the same text as
// prom-client's own rendering, with requests served between families.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { metricsText } from '../gateway/admin/metrics-text.js';

test('the text is what prom-client renders in one go', async () => {
  const registry = new Registry();
  registry.setDefaultLabels({ gateway: 'a/gw-1' });
  const requests = new Counter({
    name: 'x_requests_total',
    help: 'requests',
    labelNames: ['service', 'code'],
    registers: [registry],
  });
  requests.inc({ service: 'hello.default', code: '200' }, 3);
  requests.inc({ service: 'db.shop', code: '503' });
  new Gauge({ name: 'x_open', help: 'open "now"\nsecond line', registers: [registry] }).set(2);
  const latency = new Histogram({
    name: 'x_seconds',
    help: 'latency',
    buckets: [0.1, 1],
    registers: [registry],
  });
  latency.observe(0.05);
  latency.observe(3);
  assert.equal(await metricsText(registry), await registry.metrics());
});

test('each family is collected in a turn of its own, so the event loop runs between them', async () => {
  const registry = new Registry();
  let servedBetween = false;
  let seenBySecond: boolean | undefined;
  new Gauge({
    name: 'x_first',
    help: 'first',
    registers: [registry],
    collect() {
      setImmediate(() => (servedBetween = true));
    },
  });
  new Gauge({
    name: 'x_second',
    help: 'second',
    registers: [registry],
    collect() {
      seenBySecond = servedBetween;
    },
  });
  await metricsText(registry);
  assert.equal(seenBySecond, true);
});
