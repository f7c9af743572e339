// A retry that moves from a peer gateway to a local endpoint sends the request without the peer hop's
// weft-service field (the tries share one header map). Real gateway processes: hello in clusters a and b,
// a spreads 50/50 between them, b's instance answers 503 to every other request, and a retries those.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FailoverFabric } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { waitFor } from './helpers/wait.js';

let fabric: FailoverFabric;

before(async () => {
  fabric = await FailoverFabric.start(
    [
      { name: 'a', host: '127.0.95.1', cloud: 'aws', region: 'us-east-1', instances: 1 },
      { name: 'b', host: '127.0.95.2', cloud: 'gcp', region: 'us-east1', instances: 1, flakyInstances: 1 },
    ],
    {
      priorities: { a: 0, b: 0 },
      weights: { a: 50, b: 50 },
      outlierDetection: { consecutive5xx: 1_000_000, failurePercentage: { threshold: 0 } },
    },
  );
});

after(() => fabric?.close());

test(
  'a local endpoint never sees weft-service, also on a retry after a try at a peer',
  { timeout: 60_000 },
  async () => {
    await waitFor(
      'a to spread hello over a and b',
      async () => (await fabric.shares('a')).get('b') === 0.5,
      20_000,
    );
    const { host, port } = fabric.gateway('a').outbound;
    const seen: string[] = [];
    let servedByA = 0;
    for (let i = 0; i < 60; i++) {
      const answer = await httpCall(`http://${host}:${port}/`, { headers: { host: 'hello' } });
      assert.equal(answer.status, 200);
      if (answer.headers['x-served-by'] === 'a') {
        servedByA++;
        seen.push(String(answer.headers['x-saw-weft-service']));
      }
    }
    const retries = await fabric.metric('a', 'weft_retries_total', { service: 'hello.default' });
    console.log(`60 GETs: ${servedByA} served in a, ${retries} retries (b's 503s)`);
    assert.ok(retries > 0, 'some tries at b failed and were retried');
    assert.deepEqual(
      seen.filter((field) => field !== ''),
      [],
      'no request reached a local endpoint with weft-service',
    );
  },
);
