// Route-table rebuilds asked for by changes: changes that come together (a catalog change and the
// republished view, a health change and its republish) get one rebuild, made before the gateway reads its
// next request. Counted through `endpointHealthy`, which each rebuild asks once per local endpoint.
import { setImmediate as turn } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';

let fabric: TestFabric;
let upstream: HttpUpstream;
let asked = 0;
let healthy = true;

before(async () => {
  upstream = await startHttpUpstream('127.0.54.2', 'hello@a');
  fabric = await TestFabric.start(
    [{ cluster: 'a', host: '127.0.54.1', services: [{ name: 'hello', endpoints: [upstream.endpoint] }] }],
    {
      endpointHealthy: () => {
        asked++;
        return healthy;
      },
    },
  );
});

after(async () => {
  await fabric?.close();
  await upstream?.close();
});

test('ten changes in one turn make one rebuild, done before the next request is read', async () => {
  const { view } = fabric;
  const republish = () => view.publish([...view.snapshot().clusters.values()]);
  await turn();
  const start = asked;
  republish();
  await turn();
  const perRebuild = asked - start;
  assert.ok(perRebuild > 0, 'a change rebuilds the route table');

  const before = asked;
  healthy = false;
  for (let i = 0; i < 10; i++) {
    republish();
    fabric.gateway('a').dataPlane.requestRefresh();
  }
  assert.equal(asked, before, 'no rebuild inside the turn that made the changes');
  const answer = await httpCall(`${fabric.gateway('a').outboundUrl}/`, { headers: { host: 'hello' } });
  assert.equal(answer.status, 503, 'the rebuild (the endpoint now unhealthy) came before the request');
  assert.equal(asked - before, perRebuild, 'one rebuild for twenty changes');
});
