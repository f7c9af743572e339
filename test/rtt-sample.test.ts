// Remote clusters' RTTs as route decisions read them (gateway/routing/rtt-sample.ts): held for a while,
// so that jitter across a tie step does not rebuild a cluster's routes at every change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RttSample } from '../gateway/routing/rtt-sample.js';

test('a measured RTT is held until the sample is holdMs old; an unmeasured one is read every time', () => {
  const measured = new Map<string, number | undefined>([['b', 4]]);
  const clock = { now: 0 };
  const rtts = new RttSample(
    (cluster) => measured.get(cluster),
    10_000,
    () => clock.now,
  );
  rtts.refresh();
  assert.equal(rtts.rttOf('b'), 4);
  assert.equal(rtts.rttOf('c'), undefined);
  measured.set('b', 7);
  measured.set('c', 12);
  clock.now = 9_999;
  rtts.refresh();
  assert.equal(rtts.rttOf('b'), 4, 'held');
  assert.equal(rtts.rttOf('c'), 12, 'its first measurement counts at once');
  measured.set('c', 30);
  assert.equal(rtts.rttOf('c'), 12, 'and is held from then on');
  clock.now = 10_000;
  rtts.refresh();
  assert.equal(rtts.rttOf('b'), 7);
  assert.equal(rtts.rttOf('c'), 30);
});
