// A change of trust anchors reaches established connections too. Certificates rotate without dropping
// connections (dataplane-peer), but a connection verified under an anchor that has since been removed
// would otherwise stay trusted for as long as it lives: when the CA bundle changes, a gateway replaces
// its HTTP/2 connections to and from peers (gracefully), so each peer is verified again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric, TRUST_DOMAIN } from './helpers/dataplane-fabric.js';
import { twoGatewaysTls } from './helpers/fabric-pki.js';
import { httpCall } from './helpers/http-call.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

let fabric: TestFabric;
let hello: HttpUpstream;

before(async () => {
  hello = await startHttpUpstream('127.0.17.10', 'hello@b');
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.16.1' },
    { cluster: 'b', host: '127.0.17.1', services: [{ name: 'hello', endpoints: [hello.endpoint] }] },
  ]);
});

after(async () => {
  await fabric?.close();
  await hello?.close();
});

const status = async () =>
  (await httpCall(`${fabric.gateway('a').outboundUrl}/whoami`, { headers: { host: 'hello' } })).status;

/**
 * Gives the gateway of `cluster` a bundle with only another root (and a certificate from it), so a and b
 * no longer trust each other; waits for a to stop reaching b, runs `meanwhile`, then restores the shared
 * anchor and waits for a to reach b again.
 */
async function underForeignAnchors(cluster: 'a' | 'b', meanwhile: () => void = () => undefined) {
  const gateway = fabric.gateway(cluster);
  await waitFor('a to reach b', async () => (await status()) === 200, 10_000);
  const original = gateway.tls.current();
  gateway.dataPlane.updateTls((await twoGatewaysTls(TRUST_DOMAIN))[cluster]);
  try {
    await waitFor('a to stop reaching b', async () => (await status()) !== 200, 5_000);
    meanwhile();
  } finally {
    gateway.dataPlane.updateTls(original);
  }
  await waitFor(
    'a to reach b again once the shared anchor is back',
    async () => (await status()) === 200,
    10_000,
  );
}

test('new trust anchors replace the connections verified under the old ones', async () => {
  assert.equal(await status(), 200, 'a reaches b over a connection verified under the shared anchor');
  await underForeignAnchors('a', () => {
    const connections = fabric
      .gateway('a')
      .dataPlane.state()
      .peers.find((p) => p.cluster === 'b')?.connections;
    assert.equal(connections ?? 0, 0);
  });
});

test("the receiving side too: new anchors at b send a's connection away, and a cannot come back unverified", async () => {
  await underForeignAnchors('b');
});
