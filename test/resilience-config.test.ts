// The failover/resilience part of the gateway config: defaults that make failover fast without tuning,
// per-service overrides merged over the fabric-wide section, and table-driven rejections with paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfigText, servicePolicy } from '../gateway/config/index.js';

const BASE = `
cluster: aws-use1
locality: { cloud: aws, region: us-east-1 }
trustDomain: acme.test
redis: redis://127.0.0.1:6379/0
tls: { ca: ca.pem, cert: gateway.pem, key: gateway.key }
listen: { peer: 127.0.1.1:4143 }
`;

const WITH_SERVICE = (serviceExtra: string, failover = '') =>
  `${BASE}services:\n  - name: hello\n    endpoints: [127.0.0.1:8080]\n${serviceExtra}${failover}`;

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, '/etc/weft/gateway.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('config was accepted');
}

test('without a failover section every default is filled in and frozen', () => {
  const config = parseConfigText(BASE, '/etc/weft/gateway.yaml');
  assert.deepEqual(config.failover, {
    policy: {
      mode: 'locality',
      order: [],
      priorities: {},
      weights: {},
      holdDownMs: 30_000,
      failbackRampMs: 30_000,
    },
    peerProbe: { intervalMs: 250, timeoutMs: 1000, rise: 2, fall: 2 },
    outlierDetection: {
      consecutiveLocalOriginFailures: 3,
      consecutive5xx: 5,
      baseEjectionMs: 5000,
      maxEjectionMs: 60_000,
      maxEjectionPercent: 50,
      failurePercentage: { threshold: 50, minRequests: 20, windowMs: 10_000 },
    },
    retryBudget: { ratio: 0.2, minRetriesPerSecond: 10, windowMs: 10_000 },
    retries: { attempts: 2, on: ['gateway-error', 'reset', 'unavailable', 'timeout'], nonIdempotent: false },
    timeouts: { requestMs: 15_000, perTryMs: 0, idleMs: 300_000 },
    circuitBreaker: { maxConcurrent: 10_000, maxPending: 1000 },
  });
  assert.ok(Object.isFrozen(config.failover.policy.weights));
  assert.ok(Object.isFrozen(config.failover.retries.on));
});

test('a fabric-wide policy with weights and priorities, and a service override merged field by field', () => {
  const config = parseConfigText(
    WITH_SERVICE(
      `    failover: { holdDown: 10s, weights: { aws-use1: 90, gcp-euw1: 10 } }
    retries: { attempts: 1, nonIdempotent: true }
    timeouts: { perTry: 2s, idle: 0s }
    circuitBreaker: { maxConcurrent: 100 }
    rateLimit: { requestsPerSecond: 50.5 }
`,
      `failover:
  priorities: { aws-use1: 0, gcp-euw1: 0, azure-weu: 1 }
  weights: { aws-use1: 70, gcp-euw1: 30 }
  failbackRamp: 1m
  peerProbe: { interval: 250ms, fall: 3 }
  outlierDetection: { consecutive5xx: 10, maxEjectionPercent: 100 }
  timeouts: { request: 30s }
`,
    ),
    '/etc/weft/gateway.yaml',
  );
  assert.deepEqual(config.failover.peerProbe, { intervalMs: 250, timeoutMs: 1000, rise: 2, fall: 3 });
  assert.equal(config.failover.outlierDetection.consecutive5xx, 10);
  const hello = servicePolicy(config, 'hello.default');
  assert.deepEqual(hello.failover, {
    mode: 'locality',
    order: [],
    priorities: { 'aws-use1': 0, 'gcp-euw1': 0, 'azure-weu': 1 },
    weights: { 'aws-use1': 90, 'gcp-euw1': 10 },
    holdDownMs: 10_000,
    failbackRampMs: 60_000,
  });
  assert.deepEqual(hello.retries, {
    attempts: 1,
    on: ['gateway-error', 'reset', 'unavailable', 'timeout'],
    nonIdempotent: true,
  });
  assert.deepEqual(hello.timeouts, { requestMs: 30_000, perTryMs: 2000, idleMs: 0 });
  assert.deepEqual(hello.circuitBreaker, { maxConcurrent: 100, maxPending: 1000 });
  assert.deepEqual(hello.rateLimit, { requestsPerSecond: 50.5, burst: 51 });
  const other = servicePolicy(config, 'db.shop');
  assert.deepEqual(other.failover.weights, { 'aws-use1': 70, 'gcp-euw1': 30 });
  assert.equal(other.timeouts.idleMs, 300_000);
  assert.equal(other.rateLimit, null);
});

test('ordered mode keeps the order; listing the own cluster is allowed (shared templates)', () => {
  const config = parseConfigText(
    `${BASE}failover: { mode: ordered, order: [aws-use1, gcp-euw1, azure-weu] }\n`,
    '/etc/weft/gateway.yaml',
  );
  assert.deepEqual(config.failover.policy.order, ['aws-use1', 'gcp-euw1', 'azure-weu']);
});

const REJECTIONS: [string, string, string][] = [
  ['unknown key in failover', `${BASE}failover: { bogus: 1 }\n`, 'failover: Unrecognized key: "bogus"'],
  ['bad mode', `${BASE}failover: { mode: nearest }\n`, 'failover.mode:'],
  [
    'ordered without an order',
    `${BASE}failover: { mode: ordered }\n`,
    'failover.order: mode ordered needs the failover clusters listed',
  ],
  [
    'ordered listing only the own cluster',
    `${BASE}failover: { mode: ordered, order: [aws-use1] }\n`,
    'failover.order: mode ordered needs',
  ],
  [
    'cluster listed twice',
    `${BASE}failover: { mode: ordered, order: [gcp-euw1, gcp-euw1] }\n`,
    'failover.order: cluster gcp-euw1 is listed twice',
  ],
  ['bad cluster name in order', `${BASE}failover: { order: [GCP_1] }\n`, 'failover.order[0]: cluster names'],
  ['bad cluster name as weight key', `${BASE}failover: { weights: { GCP: 1 } }\n`, 'failover.weights'],
  [
    'zero weight',
    `${BASE}failover: { weights: { gcp-euw1: 0 } }\n`,
    'failover.weights.gcp-euw1: weights are',
  ],
  ['fractional weight', `${BASE}failover: { weights: { gcp-euw1: 1.5 } }\n`, 'failover.weights.gcp-euw1:'],
  [
    'negative priority',
    `${BASE}failover: { priorities: { gcp-euw1: -1 } }\n`,
    'failover.priorities.gcp-euw1:',
  ],
  ['bad hold-down', `${BASE}failover: { holdDown: soon }\n`, 'failover.holdDown: "soon" is not a duration'],
  [
    'probe interval too short',
    `${BASE}failover: { peerProbe: { interval: 1ms } }\n`,
    'failover.peerProbe.interval: "1ms" is too short',
  ],
  ['probe fall 0', `${BASE}failover: { peerProbe: { fall: 0 } }\n`, 'failover.peerProbe.fall:'],
  [
    'unknown probe key',
    `${BASE}failover: { peerProbe: { path: /x } }\n`,
    'failover.peerProbe: Unrecognized key: "path"',
  ],
  [
    'ejection percent over 100',
    `${BASE}failover: { outlierDetection: { maxEjectionPercent: 150 } }\n`,
    'failover.outlierDetection.maxEjectionPercent:',
  ],
  [
    'failure percentage over 100',
    `${BASE}failover: { outlierDetection: { failurePercentage: { threshold: 150 } } }\n`,
    'failover.outlierDetection.failurePercentage.threshold:',
  ],
  [
    'max ejection shorter than base',
    `${BASE}failover: { outlierDetection: { baseEjectionTime: 30s, maxEjectionTime: 10s } }\n`,
    'failover.outlierDetection.maxEjectionTime: must be at least baseEjectionTime',
  ],
  [
    'retry budget window under 1s',
    `${BASE}failover: { retryBudget: { window: 100ms } }\n`,
    'failover.retryBudget.window:',
  ],
  ['unknown retry condition', `${BASE}failover: { retries: { on: [teapot] } }\n`, 'failover.retries.on[0]:'],
  ['too many attempts', `${BASE}failover: { retries: { attempts: 50 } }\n`, 'failover.retries.attempts:'],
  [
    'per-try longer than request',
    `${BASE}failover: { timeouts: { request: 1s, perTry: 2s } }\n`,
    'failover.timeouts.perTry: must not be longer than the request timeout',
  ],
  [
    'service per-try longer than the inherited request timeout',
    WITH_SERVICE('    timeouts: { perTry: 20s }\n'),
    'services[0].timeouts.perTry: must not be longer',
  ],
  [
    'service ordered mode without order',
    WITH_SERVICE('    failover: { mode: ordered }\n'),
    'services[0].failover.order: mode ordered needs',
  ],
  [
    'unknown key in service failover',
    WITH_SERVICE('    failover: { peerProbe: {} }\n'),
    'services[0].failover: Unrecognized key: "peerProbe"',
  ],
  [
    'zero rate',
    WITH_SERVICE('    rateLimit: { requestsPerSecond: 0 }\n'),
    'services[0].rateLimit.requestsPerSecond: requestsPerSecond must be above 0',
  ],
  [
    'rate limit without rate',
    WITH_SERVICE('    rateLimit: { burst: 5 }\n'),
    'services[0].rateLimit.requestsPerSecond:',
  ],
  [
    'circuit breaker of 0 concurrent',
    WITH_SERVICE('    circuitBreaker: { maxConcurrent: 0 }\n'),
    'services[0].circuitBreaker.maxConcurrent:',
  ],
  ['failover not an object', `${BASE}failover: fast\n`, 'failover:'],
  [
    'a call settings entry for a service served here',
    WITH_SERVICE('', 'calls: [{ service: hello.default, timeouts: { idle: 0s } }]\n'),
    'calls[0].service: hello.default is served here: put its settings on its services[] entry',
  ],
  [
    'a service listed twice in calls',
    `${BASE}calls: [{ service: watch.ops }, { service: watch.ops }]\n`,
    'calls[1].service: service watch.ops is listed twice',
  ],
  [
    'a call to a short name',
    `${BASE}calls: [{ service: watch }]\n`,
    'calls[0].service: name the service as name.namespace',
  ],
  [
    'a call with a per-try longer than its request timeout',
    `${BASE}calls: [{ service: watch.ops, timeouts: { request: 1s, perTry: 2s } }]\n`,
    'calls[0].timeouts.perTry: must not be longer',
  ],
  ['a call without a service', `${BASE}calls: [{ retries: { attempts: 1 } }]\n`, 'calls[0].service:'],
];

for (const [name, text, expected] of REJECTIONS) {
  test(`rejects: ${name}`, () => {
    const problems = problemsOf(text);
    assert.ok(
      problems.some((p) => p.startsWith(expected)),
      `expected a problem starting with "${expected}", got:\n${problems.join('\n')}`,
    );
  });
}

test('calls[] gives a service this gateway only calls its own settings over the fabric-wide ones', () => {
  const config = parseConfigText(
    `${BASE}failover: { timeouts: { request: 30s } }
calls:
  - service: watch.ops
    timeouts: { idle: 0s }
    retries: { attempts: 0 }
    rateLimit: { requestsPerSecond: 5 }
`,
    '/etc/weft/gateway.yaml',
  );
  const watch = servicePolicy(config, 'watch.ops');
  assert.deepEqual(watch.timeouts, { requestMs: 30_000, perTryMs: 0, idleMs: 0 });
  assert.equal(watch.retries.attempts, 0);
  assert.deepEqual(watch.rateLimit, { requestsPerSecond: 5, burst: 5 });
  const other = servicePolicy(config, 'hello.default');
  assert.deepEqual(other.timeouts, { requestMs: 30_000, perTryMs: 0, idleMs: 300_000 });
  assert.equal(other.rateLimit, null);
});

test('every problem of a config is reported at once', () => {
  const problems = problemsOf(
    `${BASE}failover: { mode: ordered, holdDown: later, retries: { attempts: -1 } }\n`,
  );
  assert.ok(problems.length >= 2, problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('failover.holdDown')));
  assert.ok(problems.some((p) => p.startsWith('failover.retries.attempts')));
});
