// Sampled JSON access logs: off at rate 0, exact long-run rate for fractional rates, every request at
// 1, out-of-range rates clamped; entries are JSON lines with the fields given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AccessLog } from '../gateway/observability/index.js';
import { MINIMAL_CONFIG } from './helpers/gateway-config.js';

function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

function sampledOutOf(log: AccessLog, n: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) if (log.sampled()) count++;
  return count;
}

test('sample rates: off, exact fractions, every request, clamped', () => {
  const { logger } = capture();
  const cases: [number, number][] = [
    [0, 0],
    [0.1, 100],
    [0.25, 250],
    [1 / 3, 333],
    [1, 1000],
    [7, 1000],
    [-1, 0],
    [Number.NaN, 0],
  ];
  for (const [rate, expected] of cases) {
    assert.equal(sampledOutOf(new AccessLog(logger, rate), 1000), expected, `rate ${rate}`);
  }
});

test('an entry is one JSON line with the request fields', async () => {
  const { logger, lines } = capture();
  const log = new AccessLog(logger, 1);
  assert.ok(log.sampled());
  log.write({
    listener: 'outbound',
    source: 'aws-use1',
    service: 'hello.default',
    destination: 'gcp-euw1',
    method: 'GET',
    authority: 'hello.default.svc.clusterset.local',
    path: '/',
    status: 200,
    durationMs: 1.25,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(entry.msg, 'access');
  assert.equal(entry.component, 'access');
  assert.equal(entry.service, 'hello.default');
  assert.equal(entry.status, 200);
  assert.equal(entry.durationMs, 1.25);
});

test('config: observability.accessLogSampleRate defaults to 0 and must be 0..1', async () => {
  const { parseConfigObject, ConfigError } = await import('../gateway/config/index.js');
  assert.equal(parseConfigObject(MINIMAL_CONFIG, '/tmp/gateway.yaml').observability.accessLogSampleRate, 0);
  const half = parseConfigObject(
    { ...MINIMAL_CONFIG, observability: { accessLogSampleRate: 0.5 } },
    '/tmp/g.yaml',
  );
  assert.equal(half.observability.accessLogSampleRate, 0.5);
  for (const bad of [{ accessLogSampleRate: 2 }, { accessLogSampleRate: -0.1 }, { sampleRate: 1 }]) {
    assert.throws(
      () => parseConfigObject({ ...MINIMAL_CONFIG, observability: bad }, '/tmp/gateway.yaml'),
      (err: unknown) => err instanceof ConfigError && /observability/.test(err.message),
    );
  }
});
