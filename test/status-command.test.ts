import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { AdminServer } from '../gateway/admin/index.js';
import { LocalCatalog } from '../gateway/catalog/index.js';
import { freePort } from '../gateway/demo/free-port.js';
import { StaticFabricView } from './helpers/static-fabric-view.js';
import { runWeft } from './helpers/weft-cli.js';

const NOW = 1_700_000_000_000;

async function startAdmin(
  snapshot: { connected?: boolean } = {},
  discoveryStatus: () => unknown = () => ({}),
) {
  const catalog = new LocalCatalog([]);
  catalog.register('test', {
    name: 'db',
    namespace: 'shop',
    protocol: 'tcp',
    endpoints: [{ host: '10.0.0.9', port: 5432, weight: 1 }],
  });
  const view = new StaticFabricView(
    [
      {
        name: 'aws-use1',
        locality: { cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a' },
        gateways: [{ id: 'gw-a', leaseExpiresAt: NOW + 4_000 }],
        services: [{ key: 'hello.default', total: 2, healthy: 2 }],
      },
      {
        name: 'gcp-euw1',
        locality: { cloud: 'gcp', region: 'europe-west1' },
        freshness: 'stale',
        staleSince: NOW - 12_000,
        gateways: [{ id: 'gw-1', leaseExpiresAt: NOW - 12_000, freshness: 'stale' }],
        services: [{ key: 'hello.default', total: 2, healthy: 1, allow: ['aws-use1'] }],
      },
    ],
    { revision: 7, syncedAt: NOW - 400, ...snapshot },
  );
  const admin = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: new Registry(),
    ready: () => true,
    health: () => true,
    view,
    catalog,
    discoveryStatus,
    identity: {
      cluster: 'aws-use1',
      gatewayId: 'gw-a',
      version: '0.1.0',
      locality: { cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a' },
    },
    now: () => NOW,
  });
  await admin.start();
  return { admin, url: `http://127.0.0.1:${admin.address().port}` };
}

test('weft status prints clusters, services and discovery freshness from a running admin API', async (t) => {
  const { admin, url } = await startAdmin();
  t.after(() => admin.close());
  const run = await runWeft(['status', '--admin', url], 60_000);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stdout,
    [
      'gateway    aws-use1/gw-a  weft 0.1.0  aws/us-east-1/us-east-1a  ready',
      'discovery  connected, snapshot rev 7 from redis, synced 0.4s ago; clusters 1 live, 1 stale',
      '',
      'CLUSTER     LOCALITY                  FRESHNESS  GATEWAYS  LEASE',
      'aws-use1 *  aws/us-east-1/us-east-1a  live       1/1       4.0s',
      'gcp-euw1    gcp/europe-west1          stale 12s  0/1       expired 12s ago',
      '',
      'SERVICE        PROTOCOL  CLUSTERS (healthy/total endpoints)',
      'db.shop        tcp       aws-use1 ?/1 (unpublished)',
      'hello.default  http      aws-use1 2/2; gcp-euw1 1/2 (stale, allow aws-use1)',
      '',
    ].join('\n'),
  );

  const json = await runWeft(['status', '--admin', url.replace('http://', ''), '--json'], 60_000);
  assert.equal(json.code, 0, json.stderr);
  const expected = await (await fetch(`${url}/api/v1/status`)).json();
  assert.deepEqual(JSON.parse(json.stdout), expected);
});

test('weft status says why discovery is disconnected: the last Redis error', async (t) => {
  const lastError = 'connection: WRONGPASS invalid username-password pair or user is disabled.';
  const { admin, url } = await startAdmin({ connected: false }, () => ({ lastError }));
  t.after(() => admin.close());
  const run = await runWeft(['status', '--admin', url], 60_000);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stdout.split('\n')[1],
    `discovery  DISCONNECTED (${lastError}), snapshot rev 7 from redis, synced 0.4s ago; clusters 1 live, 1 stale`,
  );
});

test('weft status exits 1 with a hint when no gateway answers, 2 for a malformed --admin', async () => {
  const port = await freePort();
  const run = await runWeft(['status', '--admin', `http://127.0.0.1:${port}`], 60_000);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(
    run.stderr,
    new RegExp(
      `^weft: cannot reach the gateway admin API at http://127\\.0\\.0\\.1:${port}/api/v1/status \\(ECONNREFUSED\\): is the gateway running\\? pass --admin URL`,
    ),
  );
  const bad = await runWeft(['status', '--admin', 'http://[nope'], 60_000);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--admin "http:\/\/\[nope" is not a URL/);
});
