// Hold-down and rendering, the pure parts of the DNS publisher, with an injected clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HealthGate,
  planChanges,
  renderDesired,
  type DnsRecordSpec,
  type RecordSet,
} from '../infra/index.js';

const up = (...clusters: string[]) => clusters.map((cluster) => ({ cluster, healthy: true }));
const down = (...clusters: string[]) => clusters.map((cluster) => ({ cluster, healthy: false }));

describe('health gate', () => {
  it('publishes first-seen healthy clusters at once, drops a failed one at once, restores after hold-down', () => {
    const gate = new HealthGate(30_000);
    gate.observe(up('a', 'b'), 0);
    assert.deepEqual([...gate.upClusters(0)].sort(), ['a', 'b']);

    gate.observe([...up('a'), ...down('b')], 1000);
    assert.deepEqual([...gate.upClusters(1000)], ['a']);

    gate.observe(up('a', 'b'), 2000);
    assert.deepEqual([...gate.upClusters(2000)], ['a']);
    assert.equal(gate.nextReleaseAt(), 32_000);
    gate.observe(up('a', 'b'), 20_000);
    assert.deepEqual([...gate.upClusters(31_999)], ['a'], 'still held down');
    assert.deepEqual([...gate.upClusters(32_000)].sort(), ['a', 'b']);
    assert.equal(gate.nextReleaseAt(), undefined);
  });

  it('restarts the hold-down when a recovering cluster flaps', () => {
    const gate = new HealthGate(10_000);
    gate.observe(up('a'), 0);
    gate.observe(down('a'), 1000);
    gate.observe(up('a'), 2000);
    gate.observe(down('a'), 5000);
    gate.observe(up('a'), 6000);
    assert.equal(gate.upClusters(12_500).size, 0);
    assert.equal(gate.upClusters(16_000).size, 1);
  });

  it('counts clusters missing from a report as down', () => {
    const gate = new HealthGate(0);
    gate.observe(up('a', 'b'), 0);
    gate.observe(up('a'), 1, ['a', 'b']);
    assert.deepEqual([...gate.upClusters(1)], ['a']);
  });

  it('carries a recovery across leaders through its exported state', () => {
    const old = new HealthGate(10_000);
    old.observe(up('a'), 0);
    old.observe(down('a'), 1000);
    old.observe(up('a'), 2000);
    const next = new HealthGate(10_000);
    next.observe(up('a'), 5000); // a new leader that never saw the failure
    next.restore(JSON.parse(JSON.stringify(old.export())) as ReturnType<HealthGate['export']>);
    next.observe(up('a'), 5000);
    assert.equal(next.upClusters(11_999).size, 0);
    assert.equal(next.upClusters(12_000).size, 1);
  });
});

describe('rendering for a plain DNS server', () => {
  const targets = [
    { cluster: 'a', addresses: ['192.0.2.1'], priority: 2, weight: 10 },
    { cluster: 'b', addresses: ['192.0.2.2', '192.0.2.3'], priority: 1, weight: 90 },
    { cluster: 'c', addresses: ['192.0.2.4'], priority: 3, weight: 0 },
  ];
  const render = (routing: DnsRecordSpec['routing'], upClusters: string[]): readonly RecordSet[] =>
    renderDesired(
      { name: 'api.example.test', type: 'A', ttl: 30, routing, targets },
      new Set(upClusters),
      false,
    ).sets;

  it('failover answers with the best-priority healthy cluster only', () => {
    assert.deepEqual(render('failover', ['a', 'b', 'c'])[0]?.values, ['192.0.2.2', '192.0.2.3']);
    assert.deepEqual(render('failover', ['a', 'c'])[0]?.values, ['192.0.2.1']);
  });

  it('weighted and multivalue answer with every healthy cluster', () => {
    assert.deepEqual(render('weighted', ['a', 'c'])[0]?.values, ['192.0.2.1', '192.0.2.4']);
    assert.deepEqual(render('multivalue', ['a', 'b'])[0]?.values, ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  });

  it('holds a record with no healthy target instead of emptying it', () => {
    const spec: DnsRecordSpec = {
      name: 'api.example.test',
      type: 'A',
      ttl: 30,
      routing: 'multivalue',
      targets,
    };
    const desired = renderDesired(spec, new Set(), false);
    assert.equal(desired.held, true);
    const plan = planChanges({
      ownerId: 'o',
      desired: [desired],
      removed: [],
      current: [{ name: 'api.example.test', type: 'A', ttl: 30, values: ['192.0.2.1'] }],
    });
    assert.equal(plan.units.length, 0);
    assert.match(
      plan.notes[0]?.message ?? '',
      /no target is healthy; keeping the last healthy set \(192\.0\.2\.1\)/,
    );
  });
});
