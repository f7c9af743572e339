// OutlierDetector and OutlierTracker with an injected clock: thresholds per origin, failure-percentage
// ejection, growing and forgiven ejection times, the max-ejection cap, panic, cancelled attempts, and
// outcome routing to the three views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OutlierDetector,
  OutlierTracker,
  type OutlierEvent,
  type ScopedOutlierEvent,
} from '../gateway/resilience/index.js';
import type { AttemptOutcome } from '../gateway/index.js';
import type { OutcomeKind } from '../gateway/index.js';

const OPTIONS = {
  consecutiveLocalOriginFailures: 3,
  consecutive5xx: 5,
  baseEjectionMs: 5000,
  maxEjectionMs: 60_000,
  maxEjectionPercent: 50,
  failurePercentage: { threshold: 50, minRequests: 20, windowMs: 10_000 },
};

function detector(overrides: Partial<typeof OPTIONS> = {}) {
  const clock = { t: 0 };
  const events: OutlierEvent[] = [];
  const d = new OutlierDetector({ ...OPTIONS, ...overrides, now: () => clock.t });
  d.subscribe((e) => events.push(e));
  return { clock, events, d };
}

function repeat(d: OutlierDetector, member: string, kind: OutcomeKind, times: number, group = 'svc'): void {
  for (let i = 0; i < times; i++) d.report(group, member, kind);
}

const THRESHOLDS: [string, OutcomeKind[], boolean][] = [
  ['3 local-origin failures eject', ['local-origin', 'local-origin', 'local-origin'], true],
  ['2 local-origin failures do not', ['local-origin', 'local-origin'], false],
  ['a success resets the run', ['local-origin', 'local-origin', 'success', 'local-origin'], false],
  ['5 5xx eject', Array<OutcomeKind>(5).fill('upstream-origin'), true],
  ['4 5xx do not', Array<OutcomeKind>(4).fill('upstream-origin'), false],
  [
    'a 5xx ends a run of local-origin failures (the connection worked)',
    ['local-origin', 'local-origin', 'upstream-origin', 'local-origin'],
    false,
  ],
  [
    'local-origin failures do not end a run of 5xx',
    [
      'upstream-origin',
      'upstream-origin',
      'local-origin',
      'upstream-origin',
      'upstream-origin',
      'upstream-origin',
    ],
    true,
  ],
  [
    'cancelled attempts never count',
    ['local-origin', 'local-origin', 'cancelled', 'cancelled', 'local-origin'],
    true,
  ],
  ['cancelled attempts do not reset either', ['cancelled', 'cancelled', 'cancelled', 'cancelled'], false],
];

for (const [name, outcomes, ejected] of THRESHOLDS) {
  test(`outlier: ${name}`, () => {
    const { d } = detector();
    d.setMembers('svc', ['a', 'b']);
    for (const kind of outcomes) d.report('svc', 'a', kind);
    assert.equal(d.isEjected('svc', 'a'), ejected);
  });
}

/** A 5xx every other attempt: never 5 in a row. */
function alternate(d: OutlierDetector, member: string, attempts: number): void {
  for (let i = 0; i < attempts; i++) d.report('svc', member, i % 2 === 0 ? 'success' : 'upstream-origin');
}

test('failure percentage: a member failing every other attempt is ejected once the window holds minRequests', () => {
  const { events, d } = detector();
  d.setMembers('svc', ['a', 'b']);
  alternate(d, 'a', 19);
  assert.equal(d.isEjected('svc', 'a'), false, '19 attempts: below minRequests');
  d.report('svc', 'a', 'upstream-origin');
  assert.equal(d.isEjected('svc', 'a'), true, '10 failures in 20 attempts: 50%');
  assert.deepEqual(
    events.map((e) => [e.type, e.member, e.reason]),
    [['ejected', 'a', 'failure-percentage']],
  );
});

test('failure percentage: a lower share, an expired window or threshold 0 do not eject', () => {
  const { d } = detector();
  d.setMembers('svc', ['a', 'b']);
  // 1 failure in 3 attempts: 33%.
  for (let i = 0; i < 60; i++) d.report('svc', 'a', i % 3 === 2 ? 'upstream-origin' : 'success');
  assert.equal(d.isEjected('svc', 'a'), false);
  const windowed = detector();
  windowed.d.setMembers('svc', ['a', 'b']);
  alternate(windowed.d, 'a', 10);
  windowed.clock.t = 10_000;
  alternate(windowed.d, 'a', 10);
  assert.equal(windowed.d.isEjected('svc', 'a'), false, 'the first 10 attempts left the window');
  const off = detector({ failurePercentage: { threshold: 0, minRequests: 20, windowMs: 10_000 } });
  off.d.setMembers('svc', ['a', 'b']);
  alternate(off.d, 'a', 200);
  assert.equal(off.d.isEjected('svc', 'a'), false);
});

test('ejection time grows with each repeat (base × n, capped) and is forgiven while the member behaves', () => {
  const { clock, events, d } = detector({ maxEjectionMs: 12_000 });
  d.setMembers('svc', ['a', 'b']);
  const ejectionMs: number[] = [];
  for (let round = 0; round < 4; round++) {
    repeat(d, 'a', 'local-origin', 3);
    const event = events.at(-1);
    assert.equal(event?.type, 'ejected');
    ejectionMs.push(event?.durationMs ?? 0);
    clock.t += event?.durationMs ?? 0;
    assert.equal(d.isEjected('svc', 'a'), false, 'expired once its time has passed');
    d.sweep();
  }
  assert.deepEqual(ejectionMs, [5000, 10_000, 12_000, 12_000]);
  // 4 ejections not yet forgiven; 3 × base of good behaviour forgives 3 of them.
  clock.t += 15_000;
  repeat(d, 'a', 'local-origin', 3);
  assert.equal(events.at(-1)?.durationMs, 10_000);
  assert.equal(events.at(-1)?.ejections, 2);
});

test('ejected members return on sweep with an event; nextExpiryAt schedules it', () => {
  const { clock, events, d } = detector();
  d.setMembers('svc', ['a', 'b']);
  assert.equal(d.nextExpiryAt(), undefined);
  clock.t = 100;
  repeat(d, 'a', 'upstream-origin', 5);
  assert.equal(d.nextExpiryAt(), 5100);
  assert.deepEqual(
    events.map((e) => [e.type, e.member, e.reason]),
    [['ejected', 'a', 'consecutive-5xx']],
  );
  clock.t = 5099;
  d.sweep();
  assert.equal(events.length, 1);
  clock.t = 5100;
  d.sweep();
  assert.deepEqual(events.at(-1), {
    type: 'returned',
    group: 'svc',
    member: 'a',
    reason: 'consecutive-5xx',
    ejections: 1,
    durationMs: 0,
  });
  assert.equal(d.nextExpiryAt(), undefined);
});

test('while nothing is ejected the answers read no clock; after an ejection they do, until a sweep finds none', () => {
  const clock = { t: 0 };
  let reads = 0;
  const counted = new OutlierDetector({ ...OPTIONS, now: () => (reads++, clock.t) });
  counted.setMembers('svc', ['a', 'b']);
  assert.equal(counted.ejecting, false);
  assert.equal(counted.isEjected('svc', 'a') || counted.panic('svc'), false);
  assert.equal(counted.available('svc', 'a'), true);
  assert.equal(reads, 0, 'no clock read');
  repeat(counted, 'a', 'upstream-origin', 5);
  assert.equal(counted.ejecting, true);
  assert.equal(counted.isEjected('svc', 'a'), true);
  assert.equal(counted.available('svc', 'a'), false);
  clock.t = 4_999;
  counted.sweep();
  assert.equal(counted.ejecting, true, 'still ejected');
  clock.t = 5_000;
  assert.equal(counted.isEjected('svc', 'a'), false, 'its time is up, before any sweep');
  counted.sweep();
  assert.equal(counted.ejecting, false);
  reads = 0;
  assert.equal(counted.available('svc', 'a'), true);
  assert.equal(reads, 0);
});

test('each of several ejections returns at its own time, however the sweeps fall', () => {
  const { clock, events, d } = detector({ maxEjectionPercent: 100 });
  d.setMembers('svc', ['a', 'b', 'c']);
  repeat(d, 'a', 'upstream-origin', 5);
  clock.t = 2000;
  repeat(d, 'b', 'upstream-origin', 5);
  const returned = () => events.filter((e) => e.type === 'returned').map((e) => e.member);
  clock.t = 4999;
  d.sweep();
  assert.deepEqual(returned(), []);
  clock.t = 5000;
  d.sweep();
  assert.deepEqual(returned(), ['a']);
  clock.t = 6000;
  repeat(d, 'c', 'upstream-origin', 5);
  clock.t = 6999;
  d.sweep();
  assert.deepEqual(returned(), ['a'], 'b is due at 7000, c at 11000');
  clock.t = 7000;
  d.sweep();
  assert.deepEqual(returned(), ['a', 'b']);
  clock.t = 11_000;
  d.sweep();
  assert.deepEqual(returned(), ['a', 'b', 'c']);
});

test('failures reported while ejected neither extend nor repeat the ejection', () => {
  const { events, d } = detector();
  d.setMembers('svc', ['a', 'b']);
  repeat(d, 'a', 'local-origin', 10);
  assert.equal(events.length, 1);
});

test('max ejection percent caps how much of a group is ejected; one member may always be', () => {
  const cases: [number, number, number][] = [
    // [members, maxEjectionPercent, how many end up ejected when all fail]
    [4, 50, 2],
    [10, 50, 5],
    [3, 50, 1],
    [1, 50, 1],
    [2, 10, 1],
    [4, 100, 4],
    [4, 0, 0],
  ];
  for (const [size, percent, expected] of cases) {
    const { d } = detector({ maxEjectionPercent: percent });
    const members = Array.from({ length: size }, (_, i) => `m${i}`);
    d.setMembers('svc', members);
    for (const m of members) repeat(d, m, 'local-origin', 3);
    const ejected = members.filter((m) => d.isEjected('svc', m)).length;
    assert.equal(ejected, expected, `${size} members at ${percent}%`);
    assert.equal(d.totals.overflow, size - expected, `${size} members at ${percent}%: refused ejections`);
  }
});

test('panic: when every member is ejected all are available again; others are unaffected', () => {
  const { d } = detector({ maxEjectionPercent: 100 });
  d.setMembers('svc', ['a', 'b']);
  d.setMembers('other', ['x', 'y']);
  repeat(d, 'a', 'local-origin', 3);
  assert.equal(d.available('svc', 'a'), false);
  assert.equal(d.available('svc', 'b'), true);
  assert.equal(d.panic('svc'), false);
  repeat(d, 'b', 'local-origin', 3);
  assert.equal(d.panic('svc'), true);
  assert.equal(d.available('svc', 'a'), true);
  assert.equal(d.available('svc', 'b'), true);
  assert.equal(d.isEjected('svc', 'a'), true, 'still ejected underneath');
  assert.equal(d.panic('other'), false);
  const state = d.state().find((g) => g.group === 'svc');
  assert.equal(state?.panic, true);
  assert.equal(state?.ejected, 2);
});

test('setMembers forgets removed members; undeclared members are added on first report', () => {
  const { d } = detector({ maxEjectionPercent: 100 });
  d.setMembers('svc', ['a', 'b']);
  repeat(d, 'a', 'local-origin', 3);
  d.setMembers('svc', ['b', 'c']);
  assert.equal(d.isEjected('svc', 'a'), false);
  repeat(d, 'z', 'local-origin', 3, 'fresh');
  assert.equal(d.isEjected('fresh', 'z'), true);
  assert.deepEqual(
    d.state().map((g) => [g.group, g.members]),
    [
      ['svc', 2],
      ['fresh', 1],
    ],
  );
});

test('a late report for a member that left does not bring it back, so the last one ejected is panic', () => {
  const { d } = detector({ maxEjectionPercent: 100 });
  d.setMembers('svc', ['old', 'new']);
  d.setMembers('svc', ['new']);
  // An attempt to the old address that started before it left the catalog.
  repeat(d, 'old', 'success', 1);
  repeat(d, 'new', 'local-origin', 3);
  assert.equal(d.isEjected('svc', 'new'), true);
  assert.equal(d.panic('svc'), true, 'every member there is ejected');
  assert.equal(d.available('svc', 'new'), true);
  assert.deepEqual(
    d.state().map((g) => [g.group, g.members]),
    [['svc', 1]],
  );
  d.setMembers('gone', []);
  repeat(d, 'x', 'local-origin', 3, 'gone');
  assert.equal(d.isEjected('gone', 'x'), false, 'a group declared empty takes no members from reports');
});

test('retain forgets groups and members that left, so old members neither pile up nor skew the cap', () => {
  const { d } = detector();
  // Eight endpoints that served once and went away (old pod addresses), then two live ones failing.
  for (let i = 0; i < 8; i++) repeat(d, `10.0.0.${i}:80`, 'success', 1);
  repeat(d, 'x', 'success', 1, 'retired-service');
  d.retain(new Map([['svc', ['10.0.1.1:80', '10.0.1.2:80']]]));
  repeat(d, '10.0.1.1:80', 'local-origin', 3);
  repeat(d, '10.0.1.2:80', 'local-origin', 3);
  assert.deepEqual(
    d.state().map((g) => [g.group, g.members, g.ejected]),
    [['svc', 2, 1]],
    'two members, one ejected: the 50% cap of two, not of ten',
  );
  assert.ok(d.available('svc', '10.0.1.1:80') || d.available('svc', '10.0.1.2:80'));
});

function outcome(fields: Partial<AttemptOutcome> & Pick<AttemptOutcome, 'kind'>): AttemptOutcome {
  return { service: 'hello.default', cluster: 'aws-use1', status: 200, durationMs: 1, ...fields };
}

test('tracker: local endpoint outcomes eject endpoints; cancelled never counts', () => {
  const tracker = new OutlierTracker({ ...OPTIONS, now: () => 0 });
  const events: ScopedOutlierEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  tracker.endpoints.setMembers('hello.default', ['10.0.0.1:80', '10.0.0.2:80']);
  for (let i = 0; i < 3; i++)
    tracker.record(outcome({ kind: 'cancelled', endpoint: '10.0.0.1:80', status: 499 }));
  assert.equal(tracker.endpointAvailable('hello.default', { host: '10.0.0.1', port: 80 }), true);
  for (let i = 0; i < 3; i++)
    tracker.record(
      outcome({ kind: 'local-origin', endpoint: '10.0.0.1:80', status: 502, code: 'UPSTREAM_CONNECT' }),
    );
  assert.equal(tracker.endpointAvailable('hello.default', { host: '10.0.0.1', port: 80 }), false);
  assert.deepEqual(
    events.map((e) => [e.scope, e.type, e.group, e.member]),
    [['endpoint', 'ejected', 'hello.default', '10.0.0.1:80']],
  );
});

test('tracker: transport failures eject a peer gateway; 5xx answers eject the cluster for that service only', () => {
  const tracker = new OutlierTracker({ ...OPTIONS, now: () => 0 });
  const gw = 'gcp-euw1/g1@127.0.2.1:4143';
  for (let i = 0; i < 5; i++)
    tracker.record(outcome({ kind: 'upstream-origin', cluster: 'gcp-euw1', gateway: gw, status: 503 }));
  assert.equal(tracker.clusters.isEjected('hello.default', 'gcp-euw1'), true);
  assert.equal(tracker.clusters.isEjected('db.shop', 'gcp-euw1'), false);
  assert.equal(tracker.gateways.isEjected('gcp-euw1', gw), false, 'a gateway that answers is reachable');
  for (let i = 0; i < 3; i++)
    tracker.record(
      outcome({
        kind: 'local-origin',
        cluster: 'gcp-euw1',
        gateway: gw,
        status: 502,
        code: 'UPSTREAM_CONNECT',
      }),
    );
  assert.equal(tracker.gateways.isEjected('gcp-euw1', gw), true);
  assert.equal(tracker.clusterUnreachable('gcp-euw1'), true, 'its only gateway is ejected');
});
