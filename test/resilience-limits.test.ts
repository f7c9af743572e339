// RetryBudget, retry decisions, CircuitBreaker and RateLimiter with an injected clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CircuitBreaker,
  RateLimiter,
  ResilienceRegistry,
  RetryBudget,
  decideRetry,
  type AttemptResult,
  type RetryRequest,
} from '../gateway/resilience/index.js';
import { parseConfigObject, type RetryConfig } from '../gateway/config/index.js';
import { MINIMAL_CONFIG } from './helpers/gateway-config.js';

function budget(ratio = 0.2, minRetriesPerSecond = 0, windowMs = 10_000) {
  const clock = { t: 0 };
  return { clock, budget: new RetryBudget({ ratio, minRetriesPerSecond, windowMs, now: () => clock.t }) };
}

test('retry budget: retries may add ratio × requests in the window', () => {
  const { budget: b } = budget(0.2);
  for (let i = 0; i < 100; i++) b.recordRequest();
  let granted = 0;
  while (b.tryRetry()) granted++;
  assert.equal(granted, 20);
  assert.deepEqual(b.state(), { requests: 100, retries: 20, remaining: 0, denied: 1 });
});

test('retry budget: minRetriesPerSecond allows retries with little traffic', () => {
  const { budget: b } = budget(0.2, 10, 10_000);
  let granted = 0;
  while (b.tryRetry()) granted++;
  assert.equal(granted, 100, '10/s over a 10 s window');
});

test('retry budget: old traffic leaves the window, so a burst of failures cannot borrow from the past', () => {
  const { clock, budget: b } = budget(0.2, 0, 10_000);
  for (let i = 0; i < 100; i++) b.recordRequest();
  for (let i = 0; i < 10; i++) assert.ok(b.tryRetry());
  clock.t = 9_999;
  assert.equal(b.state().requests, 100);
  clock.t = 10_000;
  assert.equal(b.state().requests, 0, 'the first bucket dropped out exactly one window later');
  assert.equal(b.tryRetry(), false);
  clock.t = 50_000;
  for (let i = 0; i < 50; i++) b.recordRequest();
  assert.equal(b.state().remaining, 10);
});

test('retry budget: under steady load a failing cluster adds at most 20% extra requests', () => {
  const { clock, budget: b } = budget(0.2, 0, 10_000);
  let originals = 0;
  let retries = 0;
  for (let ms = 0; ms < 60_000; ms += 10) {
    clock.t = ms;
    b.recordRequest();
    originals++;
    if (b.tryRetry()) retries++; // every request fails and wants a retry
  }
  assert.ok(retries / originals <= 0.2 + 1e-9, `retried ${retries} of ${originals}`);
  assert.ok(retries / originals > 0.19, `retried ${retries} of ${originals}`);
});

const POLICY: RetryConfig = {
  attempts: 2,
  on: ['gateway-error', 'reset', 'unavailable', 'timeout'],
  nonIdempotent: false,
};
const GET: RetryRequest = { method: 'GET', grpc: false, replayable: true };
const POST: RetryRequest = { method: 'POST', grpc: false, replayable: true };
const GRPC: RetryRequest = { method: 'POST', grpc: true, replayable: true };
const refused: AttemptResult = {
  kind: 'local-origin',
  code: 'UPSTREAM_CONNECT',
  status: 0,
  requestSent: false,
  responseStarted: false,
};
const reset: AttemptResult = {
  kind: 'local-origin',
  code: 'UPSTREAM_RESET',
  status: 0,
  requestSent: true,
  responseStarted: false,
};
const s503: AttemptResult = {
  kind: 'upstream-origin',
  status: 503,
  requestSent: true,
  responseStarted: false,
};
const s500: AttemptResult = {
  kind: 'upstream-origin',
  status: 500,
  requestSent: true,
  responseStarted: false,
};
const grpcUnavailable: AttemptResult = {
  kind: 'upstream-origin',
  status: 200,
  grpcStatus: 14,
  requestSent: true,
  responseStarted: false,
};
const timeout: AttemptResult = {
  kind: 'local-origin',
  code: 'UPSTREAM_TIMEOUT',
  status: 504,
  requestSent: true,
  responseStarted: false,
};

const DECISIONS: [string, RetryConfig, RetryRequest, AttemptResult, number, string, boolean][] = [
  // name, policy, request, result, retries so far, expected verdict, budget spent
  ['connect refused: retried whatever the method, free', POLICY, POST, refused, 0, 'retry:not-sent', false],
  [
    'identity failure before sending: retried',
    POLICY,
    POST,
    { ...refused, code: 'PEER_IDENTITY' },
    0,
    'retry:not-sent',
    false,
  ],
  [
    'no room in the connection pool: retried elsewhere, free',
    POLICY,
    POST,
    { kind: 'upstream-origin', code: 'OVERLOADED', status: 0, requestSent: false, responseStarted: false },
    0,
    'retry:not-sent',
    false,
  ],
  ['attempts bound even not-sent retries', POLICY, GET, refused, 2, 'no:2 retries spent', false],
  ['attempts 0 disables retries', { ...POLICY, attempts: 0 }, GET, refused, 0, 'no:0 retries spent', false],
  ['reset after sending, GET', POLICY, GET, reset, 0, 'retry:reset', true],
  ['reset after sending, POST', POLICY, POST, reset, 0, 'no:POST is not idempotent', false],
  [
    'reset after sending, POST allowed by the route',
    { ...POLICY, nonIdempotent: true },
    POST,
    reset,
    0,
    'retry:reset',
    true,
  ],
  ['503 on PUT (idempotent)', POLICY, { ...GET, method: 'put' }, s503, 1, 'retry:gateway-error', true],
  ['500 is not a gateway error', POLICY, GET, s500, 0, 'no:retries on 5xx are off', false],
  ['500 with 5xx listed', { ...POLICY, on: ['5xx'] }, GET, s500, 0, 'retry:5xx', true],
  ['503 with only 5xx listed', { ...POLICY, on: ['5xx'] }, GET, s503, 0, 'retry:gateway-error', true],
  [
    'gRPC UNAVAILABLE needs the route to allow it',
    POLICY,
    GRPC,
    grpcUnavailable,
    0,
    'no:gRPC is not idempotent',
    false,
  ],
  [
    'gRPC UNAVAILABLE allowed',
    { ...POLICY, nonIdempotent: true },
    GRPC,
    grpcUnavailable,
    0,
    'retry:unavailable',
    true,
  ],
  ['per-try timeout', POLICY, GET, timeout, 0, 'retry:timeout', true],
  [
    'timeout not listed',
    { ...POLICY, on: ['reset'] },
    GET,
    timeout,
    0,
    'no:retries on timeout are off',
    false,
  ],
  ['caller went away', POLICY, GET, { ...reset, kind: 'cancelled' }, 0, 'no:the caller went away', false],
  [
    'response already streaming',
    POLICY,
    GET,
    { ...reset, responseStarted: true },
    0,
    'no:the response already reached the caller',
    false,
  ],
  [
    'body not replayable',
    POLICY,
    { ...GET, replayable: false },
    refused,
    0,
    'no:the request body cannot be replayed',
    false,
  ],
  ['success', POLICY, GET, { ...s503, kind: 'success', status: 200 }, 0, 'no:succeeded', false],
  ['a 4xx is not retried', POLICY, GET, { ...s503, kind: 'success', status: 404 }, 0, 'no:succeeded', false],
];

for (const [name, policy, request, result, retriesSoFar, expected, spent] of DECISIONS) {
  test(`retry decision: ${name}`, () => {
    const { budget: b } = budget(0, 10);
    const before = b.state().remaining;
    const verdict = decideRetry(policy, b, request, result, retriesSoFar);
    assert.equal(verdict.retry ? `retry:${verdict.condition}` : `no:${verdict.reason}`, expected);
    assert.equal(b.state().remaining, spent ? before - 1 : before);
  });
}

test('retry decision: an exhausted budget stops budgeted retries but not not-sent ones', () => {
  const { budget: b } = budget(0, 0);
  assert.deepEqual(decideRetry(POLICY, b, GET, reset, 0), {
    retry: false,
    reason: 'retry budget exhausted',
    refusedBy: 'retry-budget',
  });
  assert.deepEqual(decideRetry(POLICY, b, GET, refused, 0), { retry: true, condition: 'not-sent' });
});

test('retry decision: a full breaker at the destination stops every retry, spends no budget, and is named only for a retry that was due', () => {
  const { budget: b } = budget(0, 10);
  const before = b.state().remaining;
  for (const result of [reset, refused, s503]) {
    const verdict = decideRetry(POLICY, b, GET, result, 0, true);
    assert.equal(verdict.retry, false);
    assert.equal(verdict.retry ? undefined : verdict.refusedBy, 'circuit-breaker');
  }
  assert.equal(b.state().remaining, before);
  const notDue = decideRetry(POLICY, b, GET, { ...s503, kind: 'success', status: 404 }, 0, true);
  assert.deepEqual(notDue, { retry: false, reason: 'succeeded' });
});

test('circuit breaker: full only when every slot is taken and the queue is full', () => {
  const breaker = new CircuitBreaker({ maxConcurrent: 1, maxPending: 1 });
  assert.equal(breaker.full(), false);
  breaker.acquire({ slotGranted: () => undefined });
  assert.equal(breaker.full(), false, 'a slot is taken, the queue has room');
  breaker.acquire({ slotGranted: () => undefined });
  assert.equal(breaker.full(), true);
  breaker.release();
  assert.equal(breaker.full(), false, 'the waiter took the slot, its queue place is free');
});

test('circuit breaker: admits up to maxConcurrent, queues up to maxPending, refuses the rest', () => {
  const breaker = new CircuitBreaker({ maxConcurrent: 2, maxPending: 1 });
  const granted: boolean[] = [];
  assert.equal(breaker.acquire({ slotGranted: () => assert.fail('not called') }), 'admitted');
  assert.equal(breaker.acquire({ slotGranted: () => assert.fail('not called') }), 'admitted');
  assert.equal(breaker.acquire({ slotGranted: (ok) => granted.push(ok) }), 'queued');
  assert.equal(breaker.acquire({ slotGranted: () => assert.fail('not called') }), 'rejected');
  assert.deepEqual(breaker.state(), { active: 2, pending: 1, open: true, rejected: 1 });
  breaker.release();
  assert.deepEqual(granted, [true], 'the waiter got the freed slot');
  assert.deepEqual(breaker.state(), { active: 2, pending: 0, open: true, rejected: 1 });
  breaker.release();
  breaker.release();
  assert.deepEqual(breaker.state(), { active: 0, pending: 0, open: false, rejected: 1 });
});

test('circuit breaker: an aborted waiter leaves the queue and is told so', () => {
  const breaker = new CircuitBreaker({ maxConcurrent: 1, maxPending: 5 });
  breaker.acquire({ slotGranted: () => undefined });
  const controller = new AbortController();
  const outcomes: boolean[] = [];
  assert.equal(breaker.acquire({ slotGranted: (ok) => outcomes.push(ok) }, controller.signal), 'queued');
  controller.abort();
  assert.deepEqual(outcomes, [false]);
  assert.equal(breaker.state().pending, 0);
  breaker.release();
  assert.deepEqual(breaker.state(), { active: 0, pending: 0, open: false, rejected: 0 });
  assert.equal(
    breaker.acquire({ slotGranted: () => undefined }, AbortSignal.abort()),
    'admitted',
    'free slot: no wait at all',
  );
  assert.equal(
    breaker.acquire({ slotGranted: () => undefined }, AbortSignal.abort()),
    'rejected',
    'would wait, already aborted',
  );
});

test('circuit breaker: a withdrawn waiter frees its place in the queue and is never granted', () => {
  const breaker = new CircuitBreaker({ maxConcurrent: 1, maxPending: 1 });
  breaker.acquire({ slotGranted: () => undefined });
  const granted: string[] = [];
  const gone = { slotGranted: () => granted.push('gone') };
  assert.equal(breaker.acquire(gone), 'queued');
  breaker.withdraw(gone);
  assert.equal(breaker.state().pending, 0);
  assert.equal(breaker.acquire({ slotGranted: () => granted.push('next') }), 'queued', 'its place is free');
  breaker.release();
  assert.deepEqual(granted, ['next']);
});

test('circuit breaker: raised limits admit waiters at once; lowered ones shrink as requests finish', () => {
  const breaker = new CircuitBreaker({ maxConcurrent: 1, maxPending: 5 });
  const granted: boolean[] = [];
  breaker.acquire({ slotGranted: () => undefined });
  breaker.acquire({ slotGranted: (ok) => granted.push(ok) });
  breaker.acquire({ slotGranted: (ok) => granted.push(ok) });
  breaker.updateLimits({ maxConcurrent: 3, maxPending: 5 });
  assert.deepEqual(granted, [true, true]);
  assert.equal(breaker.state().active, 3);
  breaker.updateLimits({ maxConcurrent: 1, maxPending: 5 });
  breaker.acquire({ slotGranted: (ok) => granted.push(ok) });
  breaker.release();
  breaker.release();
  assert.equal(granted.length, 2, 'still over the new limit: the waiter keeps waiting');
  breaker.release();
  assert.deepEqual(granted, [true, true, true]);
});

test('rate limiter: burst, then the refill rate; Retry-After says when the next token comes', () => {
  const clock = { t: 0 };
  const limiter = new RateLimiter({ requestsPerSecond: 10, burst: 3, now: () => clock.t });
  assert.deepEqual(
    [limiter.tryTake(), limiter.tryTake(), limiter.tryTake(), limiter.tryTake()],
    [true, true, true, false],
  );
  assert.equal(limiter.retryAfterMs(), 100);
  clock.t = 50;
  assert.equal(limiter.tryTake(), false);
  assert.equal(limiter.retryAfterMs(), 50);
  clock.t = 100;
  assert.equal(limiter.tryTake(), true);
  clock.t = 10_000;
  let taken = 0;
  while (limiter.tryTake()) taken++;
  assert.equal(taken, 3, 'an idle limiter refills only up to the burst');
  assert.equal(limiter.limited, 3);
});

test('a reload that changes failover.retryBudget gives the services in use a budget of the new size', () => {
  const config = (minRetriesPerSecond: number) =>
    parseConfigObject(
      { ...MINIMAL_CONFIG, failover: { retryBudget: { ratio: 0, minRetriesPerSecond, window: '10s' } } },
      'test',
    );
  const registry = new ResilienceRegistry(config(1));
  assert.equal(registry.for('hello.default').budget.state().remaining, 10);
  registry.updateConfig(config(5));
  assert.equal(registry.for('hello.default').budget.state().remaining, 50);
  const kept = registry.for('hello.default').budget;
  registry.updateConfig(config(5));
  assert.equal(registry.for('hello.default').budget, kept, 'an unchanged budget keeps counting');
});
