// FailoverPolicy: every rule table-driven with an injected clock — local first, locality order with RTT
// tie-break, explicit order, priorities and weights (70/30 active-active failing over to a third cloud),
// stale only when nothing live, panic when everything is ejected, and hold-down + gradual failback with
// exactly one event per transition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FailoverPolicy,
  type FailoverCandidate,
  type FailoverDecision,
  type FailoverEvent,
  type FailoverPolicyOptions,
} from '../gateway/resilience/index.js';
import type { FailoverPolicyConfig } from '../gateway/config/index.js';
import type { Locality } from '../discovery/index.js';

const OWN = 'aws-use1';
const LOCALITIES: Record<string, Locality> = {
  'aws-use1': { cloud: 'aws', region: 'us-east-1' },
  'aws-use1b': { cloud: 'aws', region: 'us-east-1' },
  'aws-usw2': { cloud: 'aws', region: 'us-west-2' },
  'gcp-euw1': { cloud: 'gcp', region: 'europe-west1' },
  'azure-weu': { cloud: 'azure', region: 'westeurope' },
};

type CandidateSpec = Partial<Omit<FailoverCandidate, 'name' | 'locality'>> & { down?: boolean };

function candidates(spec: Record<string, CandidateSpec>): FailoverCandidate[] {
  return Object.entries(spec).map(([name, { down, ...rest }]) => ({
    name,
    locality: LOCALITIES[name] ?? { cloud: 'other', region: 'x' },
    freshness: 'live',
    healthyEndpoints: down ? 0 : 2,
    ejected: false,
    ...rest,
  }));
}

const BASE_POLICY: FailoverPolicyConfig = {
  mode: 'locality',
  order: [],
  priorities: {},
  weights: {},
  holdDownMs: 10_000,
  failbackRampMs: 10_000,
};

function harness(
  policy: Partial<FailoverPolicyConfig> = {},
  probeError?: FailoverPolicyOptions['probeError'],
) {
  const clock = { t: 1_000_000 };
  const events: FailoverEvent[] = [];
  const failover = new FailoverPolicy({
    service: 'hello.default',
    cluster: OWN,
    locality: LOCALITIES[OWN] as Locality,
    policy: { ...BASE_POLICY, ...policy },
    now: () => clock.t,
    onEvent: (e) => events.push(e),
    ...(probeError ? { probeError } : {}),
  });
  return { clock, events, failover };
}

function sharesOf(decision: FailoverDecision): Record<string, number> {
  return Object.fromEntries(decision.shares.map((s) => [s.cluster, Math.round(s.share * 1000) / 1000]));
}

interface Row {
  readonly name: string;
  readonly policy?: Partial<FailoverPolicyConfig>;
  readonly clusters: Record<string, CandidateSpec>;
  readonly shares: Record<string, number>;
  readonly mode?: FailoverDecision['mode'];
}

const ALL_UP = { 'aws-use1': {}, 'aws-use1b': {}, 'aws-usw2': {}, 'gcp-euw1': {}, 'azure-weu': {} };
const ACTIVE_ACTIVE = {
  priorities: { 'aws-use1': 0, 'gcp-euw1': 0, 'azure-weu': 1 },
  weights: { 'aws-use1': 70, 'gcp-euw1': 30 },
};

const ROWS: Row[] = [
  { name: 'local first', clusters: ALL_UP, shares: { 'aws-use1': 1 } },
  {
    name: 'local down → same region',
    clusters: { ...ALL_UP, 'aws-use1': { down: true } },
    shares: { 'aws-use1b': 1 },
  },
  {
    name: 'same region down → same cloud',
    clusters: { ...ALL_UP, 'aws-use1': { down: true }, 'aws-use1b': { down: true } },
    shares: { 'aws-usw2': 1 },
  },
  {
    name: 'other clouds: lowest RTT wins',
    clusters: { 'aws-use1': { down: true }, 'gcp-euw1': { rttMs: 80 }, 'azure-weu': { rttMs: 40 } },
    shares: { 'azure-weu': 1 },
  },
  {
    name: 'RTTs within one 5 ms step tie; the name decides',
    clusters: { 'gcp-euw1': { rttMs: 41 }, 'azure-weu': { rttMs: 44 } },
    shares: { 'azure-weu': 1 },
  },
  {
    name: 'RTTs in different steps: the nearer wins even by name order',
    clusters: { 'gcp-euw1': { rttMs: 39 }, 'azure-weu': { rttMs: 41 } },
    shares: { 'gcp-euw1': 1 },
  },
  {
    name: 'unknown RTT sorts after any measured one',
    clusters: { 'azure-weu': {}, 'gcp-euw1': { rttMs: 300 } },
    shares: { 'gcp-euw1': 1 },
  },
  {
    name: 'locality beats RTT: same cloud before a nearer other cloud',
    clusters: { 'aws-usw2': { rttMs: 70 }, 'gcp-euw1': { rttMs: 5 } },
    shares: { 'aws-usw2': 1 },
  },
  {
    name: 'ordered: first listed after local',
    policy: { mode: 'ordered', order: ['azure-weu', 'gcp-euw1'] },
    clusters: { ...ALL_UP, 'aws-use1': { down: true } },
    shares: { 'azure-weu': 1 },
  },
  {
    name: 'ordered: the own cluster in the list is ignored (shared templates)',
    policy: { mode: 'ordered', order: ['gcp-euw1', 'aws-use1', 'azure-weu'] },
    clusters: { 'aws-use1': {}, 'gcp-euw1': {} },
    shares: { 'aws-use1': 1 },
  },
  {
    name: 'ordered: next in the list when the first is down',
    policy: { mode: 'ordered', order: ['azure-weu', 'gcp-euw1'] },
    clusters: { ...ALL_UP, 'aws-use1': { down: true }, 'azure-weu': { down: true } },
    shares: { 'gcp-euw1': 1 },
  },
  {
    name: 'ordered: unlisted clusters never get traffic',
    policy: { mode: 'ordered', order: ['gcp-euw1'] },
    clusters: { 'aws-use1': { down: true }, 'gcp-euw1': { down: true }, 'aws-use1b': {} },
    shares: {},
    mode: 'none',
  },
  {
    name: 'explicit priority puts a remote cluster before the local one',
    policy: { priorities: { 'gcp-euw1': 0, 'aws-use1': 1 } },
    clusters: ALL_UP,
    shares: { 'gcp-euw1': 1 },
  },
  {
    name: 'weights alone spread a locality tier',
    policy: { weights: { 'gcp-euw1': 1, 'azure-weu': 3 } },
    clusters: { 'aws-use1': { down: true }, 'gcp-euw1': {}, 'azure-weu': {} },
    shares: { 'azure-weu': 0.75, 'gcp-euw1': 0.25 },
  },
  {
    name: '70/30 active-active',
    policy: ACTIVE_ACTIVE,
    clusters: { 'aws-use1': {}, 'gcp-euw1': {}, 'azure-weu': {} },
    shares: { 'aws-use1': 0.7, 'gcp-euw1': 0.3 },
  },
  {
    name: '70/30: gcp dies → its 30% fails over to azure, aws keeps 70%',
    policy: ACTIVE_ACTIVE,
    clusters: { 'aws-use1': {}, 'gcp-euw1': { down: true }, 'azure-weu': {} },
    shares: { 'aws-use1': 0.7, 'azure-weu': 0.3 },
  },
  {
    name: '70/30: aws dies → gcp keeps 30%, azure takes 70%',
    policy: ACTIVE_ACTIVE,
    clusters: { 'aws-use1': { down: true }, 'gcp-euw1': {}, 'azure-weu': {} },
    shares: { 'gcp-euw1': 0.3, 'azure-weu': 0.7 },
  },
  {
    name: '70/30: both die → azure carries everything',
    policy: ACTIVE_ACTIVE,
    clusters: { 'aws-use1': { down: true }, 'gcp-euw1': { down: true }, 'azure-weu': {} },
    shares: { 'azure-weu': 1 },
  },
  {
    name: '70/30: gcp and azure die → aws carries everything rather than drop 30%',
    policy: ACTIVE_ACTIVE,
    clusters: { 'aws-use1': {}, 'gcp-euw1': { down: true }, 'azure-weu': { down: true } },
    shares: { 'aws-use1': 1 },
  },
  {
    name: 'stale is skipped while a live cluster can serve',
    clusters: { 'aws-use1': { down: true }, 'aws-use1b': { freshness: 'stale' }, 'gcp-euw1': {} },
    shares: { 'gcp-euw1': 1 },
  },
  {
    name: 'stale serves when nothing live can',
    clusters: { 'aws-use1': { down: true }, 'aws-use1b': { freshness: 'stale' }, 'gcp-euw1': { down: true } },
    shares: { 'aws-use1b': 1 },
    mode: 'stale',
  },
  {
    name: 'an ejected cluster is skipped',
    clusters: { 'aws-use1': { down: true }, 'aws-use1b': { ejected: true }, 'gcp-euw1': {} },
    shares: { 'gcp-euw1': 1 },
  },
  {
    name: 'panic: everything ejected → route to the ejected ones',
    clusters: { 'aws-use1': { down: true }, 'aws-use1b': { ejected: true }, 'gcp-euw1': { ejected: true } },
    shares: { 'aws-use1b': 1 },
    mode: 'panic',
  },
  {
    name: 'unreachable clusters are not used even in panic',
    clusters: { 'aws-use1b': { reachable: false }, 'gcp-euw1': { reachable: false, ejected: true } },
    shares: {},
    mode: 'none',
  },
  { name: 'nothing exports the service', clusters: {}, shares: {}, mode: 'none' },
];

for (const row of ROWS) {
  test(`failover: ${row.name}`, () => {
    const { failover } = harness(row.policy);
    const decision = failover.evaluate(candidates(row.clusters));
    assert.deepEqual(sharesOf(decision), row.shares);
    assert.equal(decision.mode, row.mode ?? 'normal');
  });
}

test('a decision names the clusters it ranked by RTT: several in one priority without weights', () => {
  const ranked = (policy: Partial<FailoverPolicyConfig>, clusters: Record<string, CandidateSpec>) =>
    [...harness(policy).failover.evaluate(candidates(clusters)).rttRanked].sort();
  const fabric = { 'aws-use1': {}, 'aws-usw2': { rttMs: 70 }, 'gcp-euw1': { rttMs: 80 }, 'azure-weu': {} };
  // Local first and the same cloud each stand alone in their priority; the other clouds share one.
  assert.deepEqual(ranked({}, fabric), ['azure-weu', 'gcp-euw1']);
  assert.deepEqual(ranked({}, { 'aws-use1': {}, 'gcp-euw1': {} }), []);
  assert.deepEqual(ranked(ACTIVE_ACTIVE, { 'aws-use1': {}, 'gcp-euw1': {}, 'azure-weu': {} }), []);
  assert.deepEqual(ranked({ priorities: { 'gcp-euw1': 0 } }, { 'aws-use1': {}, 'gcp-euw1': {} }), [
    'aws-use1',
    'gcp-euw1',
  ]);
});

test('pick follows the shares exactly over a uniform sweep', () => {
  const { failover } = harness(ACTIVE_ACTIVE);
  const decision = failover.evaluate(candidates({ 'aws-use1': {}, 'gcp-euw1': {}, 'azure-weu': {} }));
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    const cluster = decision.pick((i + 0.5) / 1000) ?? 'none';
    counts[cluster] = (counts[cluster] ?? 0) + 1;
  }
  assert.deepEqual(counts, { 'aws-use1': 700, 'gcp-euw1': 300 });
  assert.equal(harness().failover.evaluate([]).pick(0.5), undefined);
});

test('failover is reported once with its reason; recovery is held down, then ramps back linearly', () => {
  const { clock, events, failover } = harness({ holdDownMs: 10_000, failbackRampMs: 10_000 });
  const up = candidates({ 'aws-use1': {}, 'gcp-euw1': {} });
  const localDown = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {} });
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'aws-use1': 1 });
  assert.equal(events.length, 0);

  failover.evaluate(localDown);
  failover.evaluate(localDown);
  assert.deepEqual(sharesOf(failover.evaluate(localDown)), { 'gcp-euw1': 1 });
  assert.equal(events.length, 1, 'one failover event, not one per evaluation');
  const [failoverEvent] = events;
  assert.equal(failoverEvent?.type, 'failover');
  assert.ok(failoverEvent?.type === 'failover');
  assert.equal(failoverEvent.cluster, 'aws-use1');
  assert.equal(failoverEvent.cause, 'no-healthy-endpoints');
  assert.deepEqual(failoverEvent.to, ['gcp-euw1']);
  assert.match(
    failoverEvent.reason,
    /aws-use1 has no healthy endpoint for hello\.default; traffic moves to gcp-euw1/,
  );

  clock.t += 1000;
  const recovered = failover.evaluate(up);
  assert.deepEqual(sharesOf(recovered), { 'gcp-euw1': 1 }, 'held down');
  assert.equal(recovered.reevaluateAt, clock.t + 10_000);
  const local = recovered.clusters.find((c) => c.cluster === 'aws-use1');
  assert.equal(local?.holdDownRemainingMs, 10_000);

  clock.t += 9_999;
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'gcp-euw1': 1 }, 'still held down 1 ms before the end');
  clock.t += 1;
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'gcp-euw1': 1 }, 'ramp starts at 0');
  assert.equal(events.length, 1, 'no failback before it gets traffic');

  clock.t += 2_500;
  const quarter = failover.evaluate(up);
  assert.deepEqual(sharesOf(quarter), { 'aws-use1': 0.25, 'gcp-euw1': 0.75 });
  assert.equal(quarter.reevaluateAt, clock.t + 500, 'ramp steps of ramp/20');
  assert.equal(events.length, 2);
  const failback = events[1];
  assert.ok(failback?.type === 'failback');
  assert.equal(failback.cluster, 'aws-use1');
  assert.deepEqual(failback.from, ['gcp-euw1']);
  assert.match(failback.reason, /hold-down 10000 ms passed; shifting traffic back over 10000 ms/);

  clock.t += 5_000;
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'aws-use1': 0.75, 'gcp-euw1': 0.25 });
  clock.t += 2_500;
  const settled = failover.evaluate(up);
  assert.deepEqual(sharesOf(settled), { 'aws-use1': 1 });
  assert.equal(settled.reevaluateAt, undefined);
  assert.equal(events.length, 2, 'one failback event for the whole ramp');
});

test('flapping during the ramp fails over again and restarts the hold-down', () => {
  const { clock, events, failover } = harness({ holdDownMs: 10_000, failbackRampMs: 10_000 });
  const up = candidates({ 'aws-use1': {}, 'gcp-euw1': {} });
  const localDown = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {} });
  failover.evaluate(up);
  failover.evaluate(localDown);
  clock.t += 1000;
  failover.evaluate(up);
  clock.t += 15_000;
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'aws-use1': 0.5, 'gcp-euw1': 0.5 });
  failover.evaluate(localDown);
  assert.deepEqual(
    events.map((e) => e.type),
    ['failover', 'failback', 'failover'],
  );
  clock.t += 1000;
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'gcp-euw1': 1 }, 'held down again from zero');
  clock.t += 9_999;
  assert.deepEqual(sharesOf(failover.evaluate(up)), { 'gcp-euw1': 1 });
});

test('70/30 with a third cloud: gcp dies and azure takes its 30%, then gcp ramps back after the hold-down', () => {
  const { clock, events, failover } = harness({ ...ACTIVE_ACTIVE, holdDownMs: 5000, failbackRampMs: 4000 });
  const all = candidates({ 'aws-use1': {}, 'gcp-euw1': {}, 'azure-weu': {} });
  const gcpDown = candidates({ 'aws-use1': {}, 'gcp-euw1': { down: true }, 'azure-weu': {} });
  assert.deepEqual(sharesOf(failover.evaluate(all)), { 'aws-use1': 0.7, 'gcp-euw1': 0.3 });
  assert.deepEqual(sharesOf(failover.evaluate(gcpDown)), { 'aws-use1': 0.7, 'azure-weu': 0.3 });
  const [moved] = events;
  assert.ok(moved?.type === 'failover');
  assert.deepEqual(moved.to, ['azure-weu']);
  clock.t += 100;
  assert.deepEqual(sharesOf(failover.evaluate(all)), { 'aws-use1': 0.7, 'azure-weu': 0.3 }, 'held down');
  clock.t += 5000 + 1000;
  assert.deepEqual(sharesOf(failover.evaluate(all)), {
    'aws-use1': 0.7,
    'gcp-euw1': 0.075,
    'azure-weu': 0.225,
  });
  clock.t += 3000;
  assert.deepEqual(sharesOf(failover.evaluate(all)), { 'aws-use1': 0.7, 'gcp-euw1': 0.3 });
  assert.deepEqual(
    events.map((e) => e.type),
    ['failover', 'failback'],
  );
});

test('a cluster seen for the first time is not held down', () => {
  const { failover } = harness();
  failover.evaluate(candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {} }));
  const decision = failover.evaluate(
    candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {}, 'aws-use1b': {} }),
  );
  assert.deepEqual(sharesOf(decision), { 'aws-use1b': 1 });
});

test('the only cluster that can serve gets traffic at once even while held down', () => {
  const { clock, events, failover } = harness();
  failover.evaluate(candidates({ 'aws-use1': {} }));
  assert.deepEqual(sharesOf(failover.evaluate(candidates({ 'aws-use1': { down: true } }))), {});
  clock.t += 1000;
  assert.deepEqual(sharesOf(failover.evaluate(candidates({ 'aws-use1': {} }))), { 'aws-use1': 1 });
  assert.deepEqual(
    events.map((e) => (e.type === 'mode' ? `mode:${e.mode}` : e.type)),
    ['failover', 'mode:none', 'failback', 'mode:normal'],
  );
  const failback = events[2];
  assert.ok(failback?.type === 'failback');
  assert.match(failback.reason, /hold-down is cut short/);
});

test('the first decision is where a service starts, not a move: no mode event for it', () => {
  const { events, failover } = harness();
  const staleOnly = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': { freshness: 'stale' } });
  assert.equal(failover.evaluate(staleOnly).mode, 'stale');
  assert.equal(events.length, 0);
  failover.evaluate(candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {} }));
  assert.deepEqual(
    events.map((e) => (e.type === 'mode' ? `${e.previous}→${e.mode}` : e.type)),
    ['failback', 'stale→normal'],
    'gcp-euw1 turned live: a failback onto it, and the mode back to normal',
  );
});

test('stale and panic modes are reported once when entered and left', () => {
  const { events, failover } = harness();
  const live = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {} });
  const staleOnly = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': { freshness: 'stale' } });
  const ejectedOnly = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': { ejected: true } });
  failover.evaluate(live);
  failover.evaluate(staleOnly);
  failover.evaluate(staleOnly);
  failover.evaluate(ejectedOnly);
  failover.evaluate(live);
  const modes = events.filter((e) => e.type === 'mode').map((e) => (e.type === 'mode' ? e.mode : ''));
  assert.deepEqual(modes, ['stale', 'panic', 'normal']);
  const failovers = events.filter((e) => e.type === 'failover');
  assert.equal(failovers.length, 0, 'gcp kept its traffic in every mode: nothing moved');
});

test('a cluster that leaves the route is a failover with cause gone, and its reason says how', () => {
  const cases: [string, RegExp][] = [
    // The route table leaves a remote cluster out when it stops exporting or its allow list stops naming
    // the caller; the own cluster, when the service is no longer registered here.
    [
      'aws-use1b',
      /^aws-use1b no longer offers hello\.default here \(export withdrawn or evicted, or its allow list no longer names this cluster\); traffic moves to gcp-euw1$/,
    ],
    ['aws-use1', /^hello\.default is no longer registered in aws-use1; traffic moves to gcp-euw1$/],
  ];
  for (const [gone, reason] of cases) {
    const { events, failover } = harness();
    failover.evaluate(candidates({ [gone]: {}, 'gcp-euw1': {} }));
    failover.evaluate(candidates({ 'gcp-euw1': {} }));
    const [event] = events;
    assert.ok(event?.type === 'failover', gone);
    assert.equal(event.cause, 'gone');
    assert.equal(event.cluster, gone);
    assert.match(event.reason, reason);
  }
});

test("an unreachable cluster's failover reason carries its gateways' last probe error", () => {
  const errors: Record<string, string> = {
    'aws-use1b': 'peer gateway aws-use1b/gw-1 at 127.0.2.1:15443: connect ECONNREFUSED 127.0.2.1:15443',
  };
  const { events, failover } = harness({}, (cluster) => errors[cluster]);
  failover.evaluate(candidates({ 'aws-use1b': {}, 'gcp-euw1': {} }));
  failover.evaluate(candidates({ 'aws-use1b': { reachable: false }, 'gcp-euw1': {} }));
  const [event] = events;
  assert.ok(event?.type === 'failover');
  assert.equal(event.cause, 'unreachable');
  assert.equal(
    event.reason,
    'no gateway of aws-use1b answers probes (peer gateway aws-use1b/gw-1 at 127.0.2.1:15443: connect ECONNREFUSED 127.0.2.1:15443); traffic moves to gcp-euw1',
  );

  // The prober knows no error (the cluster's gateways are gone from it): the reason stands without one.
  const bare = harness({}, () => undefined);
  bare.failover.evaluate(candidates({ 'aws-use1b': {}, 'gcp-euw1': {} }));
  bare.failover.evaluate(candidates({ 'aws-use1b': { reachable: false }, 'gcp-euw1': {} }));
  assert.equal(bare.events[0]?.reason, 'no gateway of aws-use1b answers probes; traffic moves to gcp-euw1');
});

test('a cluster forgotten once it left the fabric for good returns as new: not held down', () => {
  const { clock, failover } = harness();
  const both = candidates({ 'aws-use1': { down: true }, 'aws-use1b': {}, 'gcp-euw1': {} });
  const withoutB = candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {} });
  failover.evaluate(both);
  failover.evaluate(withoutB);
  clock.t += 1000;
  assert.deepEqual(sharesOf(failover.evaluate(both)), { 'gcp-euw1': 1 }, 'back within the hold-down: held');
  failover.evaluate(withoutB);
  failover.forgetClusters(new Set(['aws-use1b']));
  clock.t += 1000;
  assert.deepEqual(sharesOf(failover.evaluate(both)), { 'aws-use1b': 1 });
});

test('a reloaded policy applies at once and keeps hold-downs in progress', () => {
  const { clock, failover } = harness();
  failover.evaluate(candidates({ 'aws-use1': {}, 'gcp-euw1': {}, 'azure-weu': {} }));
  failover.evaluate(candidates({ 'aws-use1': { down: true }, 'gcp-euw1': {}, 'azure-weu': {} }));
  clock.t += 1000;
  failover.updatePolicy({ ...BASE_POLICY, mode: 'ordered', order: ['azure-weu', 'gcp-euw1'] });
  assert.deepEqual(
    sharesOf(failover.evaluate(candidates({ 'aws-use1': {}, 'gcp-euw1': {}, 'azure-weu': {} }))),
    {
      'azure-weu': 1,
    },
  );
});
