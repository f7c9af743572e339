// `weft top --json` against the real demo fabric (three gateway processes, redis-server, the sample
// workloads), run as a user would after driving HTTP traffic through it: the entry gateway's own edges
// (--local) carry exactly the requests sent, with their success rates, and the fabric-wide view adds the
// edge another gateway reports. Every metric name the gateways expose on /metrics is in the README.
// The run is bounded, the CLI exits, and the demo leaves no gateway process or temp folder behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { EdgeJson, GoldenResponse, RoutesResponse } from '../gateway/admin/index.js';
import type { RouteState } from '../gateway/index.js';
import { httpGet } from '../gateway/demo/demo-calls.js';
import { DemoFabric, type DemoGateway } from '../gateway/demo/demo-fabric.js';
import { DEMO_ZONE } from '../gateway/demo/demo-topology.js';
import { fromPackageRoot } from '../gateway/package-root.js';
import { runWeft } from './helpers/weft-cli.js';
import { waitFor, within } from './helpers/wait.js';

const HELLO = `hello.default.svc.${DEMO_ZONE}`;

/** Whether `gateway` routes hello to its own healthy endpoint and, pinned, to a live gcp-euw1 gateway. */
async function helloRoutable(gateway: DemoGateway): Promise<boolean> {
  const body = (await (await fetch(`${gateway.admin}/api/v1/routes`)).json()) as RoutesResponse;
  const hello = (body.routes as RouteState[]).find((r) => r.service === 'hello.default');
  const local = (hello?.local.length ?? 0) > 0;
  const remote =
    gateway.cluster.name === 'gcp-euw1' ||
    (hello?.failover.some((f) => f.cluster === 'gcp-euw1' && f.gateways.some((g) => g.available)) ?? false);
  return local && remote;
}

async function drive(gateway: DemoGateway, host: string, count: number, status: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const reply = await httpGet(gateway.outbound, host, `/?i=${i}`);
    assert.equal(reply.status, status, `${host} through ${gateway.cluster.name}`);
  }
}

async function top(admin: string, ...flags: string[]): Promise<GoldenResponse> {
  const run = await runWeft(['top', '--json', '--admin', admin, ...flags], 15_000);
  assert.equal(run.code, 0, `weft top --json exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as GoldenResponse;
}

function edge(sample: GoldenResponse, source: string, service: string, destination: string): EdgeJson {
  const found = sample.edges.find(
    (e) => e.source === source && e.service === service && e.destination === destination,
  );
  assert.ok(found, `edge ${source} → ${service} in ${destination}; have ${JSON.stringify(sample.edges)}`);
  return found;
}

test(
  'weft top --json reflects HTTP traffic driven through the demo fabric',
  { timeout: 60_000 },
  async (t) => {
    const started = Date.now();
    const fabric = new DemoFabric({ entry: fromPackageRoot('gateway/cli/main.ts') });
    t.after(() => fabric.close());
    await fabric.start();
    const aws = fabric.gateway('aws-use1');
    const gcp = fabric.gateway('gcp-euw1');
    await waitFor('hello routable in both clouds', () => helloRoutable(aws), 15_000);
    await waitFor('hello healthy in gcp-euw1', () => helloRoutable(gcp), 15_000);
    const upMs = Date.now() - started;

    // Through aws-use1: 12 served locally, 6 pinned to gcp-euw1 (across clouds over mTLS), 3 names that
    // do not exist. Through gcp-euw1: 5 served locally.
    await drive(aws, HELLO, 12, 200);
    await drive(aws, `gcp-euw1.${HELLO}`, 6, 200);
    await drive(aws, `nothing.default.svc.${DEMO_ZONE}`, 3, 404);
    await drive(gcp, HELLO, 5, 200);

    const local = await top(aws.admin, '--local');
    assert.equal(local.scope, 'local');
    const localHello = edge(local, 'aws-use1', 'hello.default', 'aws-use1');
    assert.equal(localHello.requests, 12);
    assert.equal(localHello.successRate, 1);
    assert.ok(
      localHello.p50Ms > 0 && localHello.p99Ms >= localHello.p50Ms,
      `latencies ${JSON.stringify(localHello)}`,
    );
    const crossCloud = edge(local, 'aws-use1', 'hello.default', 'gcp-euw1');
    assert.equal(crossCloud.requests, 6);
    assert.equal(crossCloud.successRate, 1);
    const unknown = edge(local, 'aws-use1', '(unknown)', '(none)');
    assert.equal(unknown.requests, 3);
    assert.equal(local.edges.length, 3, 'only the edges driven through aws-use1');
    assert.equal(local.edges[0]?.service, 'hello.default', 'busiest first');
    assert.equal(local.edges[0]?.destination, 'aws-use1');

    // Every gateway publishes its stats through Redis: aws-use1 shows gcp-euw1's own traffic too.
    const fabricWide = await within('gcp-euw1 traffic in the fabric view of aws-use1', 15_000, async () => {
      const sample = await top(aws.admin);
      // gcp-euw1 publishes every 2 s: a publish made while its 5 requests ran holds only some of them.
      const hello = sample.edges.find((e) => e.source === 'gcp-euw1' && e.service === 'hello.default');
      return hello?.requests === 5 ? sample : undefined;
    });
    assert.equal(fabricWide.scope, 'fabric');
    const gcpHello = edge(fabricWide, 'gcp-euw1', 'hello.default', 'gcp-euw1');
    assert.equal(gcpHello.requests, 5);
    assert.deepEqual(
      gcpHello.reportedBy.map((g) => g.split('/')[0]),
      ['gcp-euw1'],
    );
    assert.equal(edge(fabricWide, 'aws-use1', 'hello.default', 'gcp-euw1').requests, 6);
    assert.ok(
      ['aws-use1', 'gcp-euw1', 'azure-weu'].every((c) =>
        fabricWide.reporting.some((r) => r.startsWith(`${c}/`)),
      ),
      `every gateway reports: ${fabricWide.reporting.join(', ')}`,
    );

    await t.test('every metric on /metrics is documented in the README', async () => {
      const exposed = new Set<string>();
      for (const gateway of fabric.gateways) {
        const text = await (await fetch(`${gateway.admin}/metrics`)).text();
        for (const match of text.matchAll(/^# TYPE (\S+) /gm)) exposed.add(match[1] ?? '');
      }
      const readme = await readFile(fromPackageRoot('README.md'), 'utf8');
      const documented = (name: string) =>
        readme.includes(`\`${name}\``) ||
        (name.startsWith('weft_discovery_') &&
          readme.includes(`\`${name.slice('weft_discovery_'.length)}\``));
      console.log(`${exposed.size} metric names on /metrics`);
      assert.ok(exposed.has('weft_requests_total') && exposed.size > 40, [...exposed].join(' '));
      assert.deepEqual(
        [...exposed].filter((name) => !documented(name)),
        [],
        'undocumented metrics',
      );
    });

    await fabric.close();
    const elapsedMs = Date.now() - started;
    console.log(`demo up and routable in ${upMs} ms; whole run ${elapsedMs} ms`);
    assert.ok(elapsedMs < 30_000, `the run took ${elapsedMs} ms`);
    const pids = fabric.gateways.map((g) => g.process.pid);
    assert.equal(pids.length, 3);
    assert.deepEqual(pids.filter(isRunning), [], 'no gateway process left behind');
    assert.ok(!existsSync(fabric.dir), `temp folder ${fabric.dir} removed`);
  },
);

function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
