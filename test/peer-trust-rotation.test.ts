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

test('new trust anchors replace the connections verified under the old ones', async () => {
  const a = fabric.gateway('a');
  assert.equal(await status(), 200, 'a reaches b over a connection verified under the shared anchor');
  const original = a.tls.current();
  // A bundle with only another root (and a certificate from it): b's certificate is no longer trusted.
  const { a: foreign } = await twoGatewaysTls(TRUST_DOMAIN);
  a.dataPlane.updateTls(foreign);
  try {
    await waitFor('a to stop reaching b', async () => (await status()) !== 200, 5_000);
    assert.equal(a.dataPlane.state().peers.find((p) => p.cluster === 'b')?.connections ?? 0, 0);
  } finally {
    a.dataPlane.updateTls(original);
  }
  await waitFor(
    'a to reach b again once the shared anchor is back',
    async () => (await status()) === 200,
    10_000,
  );
});

test("the receiving side too: new anchors at b send a's connection away, and a cannot come back unverified", async () => {
  const b = fabric.gateway('b');
  await waitFor('a to reach b', async () => (await status()) === 200, 10_000);
  const original = b.tls.current();
  const { b: foreign } = await twoGatewaysTls(TRUST_DOMAIN);
  b.dataPlane.updateTls(foreign);
  try {
    await waitFor('a to stop reaching b', async () => (await status()) !== 200, 5_000);
  } finally {
    b.dataPlane.updateTls(original);
  }
  await waitFor(
    'a to reach b again once the shared anchor is back',
    async () => (await status()) === 200,
    10_000,
  );
});
