// Failure promises with real gateway processes, part two: the only local instance of a service dies and
// traffic moves to the next cloud with no failed request; weighted active-active spreading between two
// clouds (70/30), and when one of them dies its share fails over to the next tier, not onto the survivor.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaultDrill } from './helpers/failover-drill.js';
import { FailoverFabric, SteadyClient, type CallResult } from './helpers/failover-fabric.js';
import { waitFor } from './helpers/wait.js';

function shareOf(results: readonly CallResult[], cluster: string): number {
  const ok = results.filter((r) => r.status === 200);
  return ok.length === 0 ? 0 : ok.filter((r) => r.servedBy === cluster).length / ok.length;
}

describe('local instance dies', () => {
  let fabric: FailoverFabric;
  before(async () => {
    fabric = await FailoverFabric.start(
      [
        { name: 'a', host: '127.0.31.1', cloud: 'aws', region: 'us-east-1', instances: 1 },
        { name: 'b', host: '127.0.32.1', cloud: 'gcp', region: 'europe-west1', instances: 1 },
      ],
      { holdDown: '2s', failbackRamp: '1s' },
    );
  });
  after(() => fabric?.close());

  test(
    'the only local instance dies: traffic moves to the next cloud, 0 failed requests',
    { timeout: 60_000 },
    async () => {
      const { client, faultAt, detectedAt } = await runFaultDrill(fabric, {
        servedBefore: 'a',
        warmUpMs: 20_000,
        fault: () => fabric.instances.get('a')?.[0]?.kill(),
        dropped: 'a',
        servedAfter: 'b',
      });
      const failed = client.failures();
      const detectionMs = detectedAt - faultAt;
      console.log(
        `local instance dies: detection ${detectionMs} ms, failed ${failed.length} of ${client.results.length}`,
      );
      assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
      assert.ok(detectionMs <= 2_000, `detected after ${detectionMs} ms`);
    },
  );
});

describe('weighted spreading', () => {
  let fabric: FailoverFabric;
  before(async () => {
    fabric = await FailoverFabric.start(
      [
        { name: 'a', host: '127.0.41.1', cloud: 'aws', region: 'us-east-1', instances: 0 },
        { name: 'b', host: '127.0.42.1', cloud: 'aws', region: 'us-west-2', instances: 1 },
        { name: 'c', host: '127.0.43.1', cloud: 'gcp', region: 'us-east1', instances: 1 },
        { name: 'd', host: '127.0.44.1', cloud: 'azure', region: 'westeurope', instances: 1 },
      ],
      { priorities: { b: 1, c: 1, d: 2 }, weights: { b: 70, c: 30 }, holdDown: '2s', failbackRamp: '1s' },
    );
  });
  after(() => fabric?.close());

  test(
    '70/30 between two clouds; when one dies its share goes to the third',
    { timeout: 60_000 },
    async () => {
      const client = new SteadyClient(fabric.gateway('a').outbound, 10);
      client.start();
      const at = { measure: 0, fault: 0, detected: 0 };
      try {
        await waitFor(
          'a to settle on 70/30',
          async () => (await fabric.shares('a')).get('b') === 0.7,
          20_000,
        );
        at.measure = Date.now();
        await client.waitServedBy('c', 120, at.measure, 30_000);
        at.fault = Date.now();
        await fabric.gateway('c').process.killAndWait();
        await waitFor('a to give c no share', async () => !(await fabric.shares('a')).has('c'), 10_000);
        at.detected = Date.now();
        await client.waitServedBy('d', 120, at.detected, 30_000);
      } finally {
        await client.stop();
      }
      const before = client.results.filter((r) => r.sentAt >= at.measure && r.sentAt < at.fault);
      const afterFault = client.results.filter((r) => r.sentAt >= at.detected + 100);
      const failed = client.failures();
      const bBefore = shareOf(before, 'b');
      const bAfter = shareOf(afterFault, 'b');
      const dAfter = shareOf(afterFault, 'd');
      console.log(
        `weighted: b ${bBefore.toFixed(3)} c ${shareOf(before, 'c').toFixed(3)} of ${before.length}; after c died (detection ${at.detected - at.fault} ms): b ${bAfter.toFixed(3)} d ${dAfter.toFixed(3)} of ${afterFault.length}; failed ${failed.length}`,
      );
      assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
      assert.ok(Math.abs(bBefore - 0.7) <= 0.07, `b had ${bBefore} before the fault`);
      assert.ok(Math.abs(bAfter - 0.7) <= 0.07, `b had ${bAfter} after c died (should keep its 70 %)`);
      assert.ok(Math.abs(dAfter - 0.3) <= 0.07, `d had ${dAfter} after c died`);
    },
  );
});
