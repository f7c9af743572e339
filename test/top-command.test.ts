// `weft top` against two real admin servers sharing a real redis-server. Each gateway's GoldenMetrics is
// fed directly with a known request mix (top-demo.test.ts drives real traffic instead); each publishes
// its stats record, and either gateway shows both edges fabric-wide. Checks --json, --local, the live
// refreshing table, bad flags and an unreachable gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { GoldenResponse } from '../gateway/admin/index.js';
import type { AdminServer } from '../gateway/admin/index.js';
import { freePort } from '../gateway/demo/free-port.js';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import { GoldenMetrics } from '../gateway/observability/index.js';
import { testAdmin } from './helpers/admin-fixture.js';
import { StaticFabricView } from './helpers/static-fabric-view.js';
import { runWeft } from './helpers/weft-cli.js';
import { waitFor, within } from './helpers/wait.js';

const CLUSTERS = [
  { name: 'aws-use1', gateways: [{ id: 'gw-a', leaseExpiresAt: Date.now() + 600_000 }] },
  { name: 'gcp-euw1', gateways: [{ id: 'gw-g', leaseExpiresAt: Date.now() + 600_000 }] },
];

async function gateway(
  cluster: string,
  id: string,
  redisUrl: string,
  golden: GoldenMetrics,
): Promise<AdminServer> {
  const admin = testAdmin({
    cluster,
    gatewayId: id,
    view: new StaticFabricView(CLUSTERS),
    golden,
    redis: { mode: 'standalone', url: redisUrl },
    statsPublishIntervalMs: 200,
  });
  await admin.start();
  return admin;
}

test('weft top shows the fabric-wide busiest edges from every gateway', { timeout: 60_000 }, async (t) => {
  const redis = await RedisServerProcess.start();
  t.after(() => redis.stop());
  const awsGolden = new GoldenMetrics();
  const gcpGolden = new GoldenMetrics();
  // aws-use1 → hello.default in gcp-euw1: 100 requests, 10 of them 503, 5 ms each.
  const hello = awsGolden.edge('aws-use1', 'hello.default', 'gcp-euw1');
  for (let i = 0; i < 100; i++) hello.record(i < 10 ? 503 : 200, 0.005);
  // gcp-euw1 → greeter.default locally: 40 requests, all fine, 1 ms.
  const greeter = gcpGolden.edge('gcp-euw1', 'greeter.default', 'gcp-euw1');
  for (let i = 0; i < 40; i++) greeter.record(200, 0.001);
  const aws = await gateway('aws-use1', 'gw-a', redis.url, awsGolden);
  t.after(() => aws.close());
  const gcp = await gateway('gcp-euw1', 'gw-g', redis.url, gcpGolden);
  t.after(() => gcp.close());
  const admin = `http://127.0.0.1:${aws.address().port}`;

  const sample = await within('both gateways in aws-use1 top --json', 15_000, async () => {
    const run = await runWeft(['top', '--json', '--admin', admin]);
    assert.equal(run.code, 0, run.stderr);
    const body = JSON.parse(run.stdout) as GoldenResponse;
    return body.edges.length === 2 ? body : undefined;
  });
  assert.equal(sample.scope, 'fabric');
  assert.deepEqual([...sample.reporting].sort(), ['aws-use1/gw-a', 'gcp-euw1/gw-g']);
  const [busiest, second] = sample.edges;
  assert.equal(busiest?.service, 'hello.default', 'busiest first');
  assert.equal(busiest?.source, 'aws-use1');
  assert.equal(busiest?.destination, 'gcp-euw1');
  assert.equal(busiest?.requests, 100);
  assert.equal(busiest?.successRate, 0.9);
  assert.ok(busiest.p50Ms > 4 && busiest.p50Ms < 6.1, `p50 ${busiest?.p50Ms}`);
  assert.deepEqual(busiest?.reportedBy, ['aws-use1/gw-a']);
  assert.equal(second?.service, 'greeter.default');
  assert.equal(second?.requests, 40);
  assert.equal(second?.successRate, 1);
  assert.deepEqual(second?.reportedBy, ['gcp-euw1/gw-g']);

  const local = await runWeft(['top', '--json', '--local', '--admin', admin]);
  const localBody = JSON.parse(local.stdout) as GoldenResponse;
  assert.equal(localBody.scope, 'local');
  assert.deepEqual(
    localBody.edges.map((e) => e.service),
    ['hello.default'],
  );

  // The live table, refreshed until SIGINT.
  const child = spawn(process.execPath, [
    '--import',
    'tsx',
    'gateway/cli/main.ts',
    'top',
    '--admin',
    admin,
    '--interval',
    '100ms',
  ]);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  // More refreshes than an AbortSignal's 10 listeners: each wait must leave none behind (Node would warn).
  await waitFor(
    'twelve refreshes of the live table',
    () => (out.match(/^SOURCE +SERVICE/gm) ?? []).length >= 12,
    15_000,
  );
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.equal(err, '', 'nothing on stderr');
  assert.match(out, /aws-use1 +hello\.default +gcp-euw1 +\d+\.\d+ +90\.00% +/);
  assert.match(out, /gcp-euw1 +greeter\.default +gcp-euw1 +.* +100\.00% +/);
});

test(
  'weft top: bad flags exit 2, an unreachable gateway exits 1 with a hint',
  { timeout: 60_000 },
  async () => {
    const port = await freePort();
    const [interval, limit, unreachable] = await Promise.all([
      runWeft(['top', '--interval', 'soon']),
      runWeft(['top', '--limit', '0']),
      runWeft(['top', '--json', '--admin', `127.0.0.1:${port}`]),
    ]);
    assert.equal(interval.code, 2);
    assert.match(interval.stderr, /--interval "soon"/);
    assert.equal(limit.code, 2);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the gateway admin API .*ECONNREFUSED.*--admin/);
  },
);
