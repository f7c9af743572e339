// The dashboard's server side on a real admin server and a real redis-server: the page at `/` (one
// small response, ETag), the fabric picture merged from this gateway and another one's stats record,
// the live event stream (a view change reaches an open stream), bad input, corrupt stats records, and
// close() ending streams and removing the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { decodeStatsRecord, statsKey } from '../discovery/index.js';
import type { FabricPicture, GoldenResponse } from '../gateway/admin/index.js';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import { GoldenMetrics } from '../gateway/observability/index.js';
import { testAdmin } from './helpers/admin-fixture.js';
import { StaticFabricView, type ClusterSpec } from './helpers/static-fabric-view.js';
import { waitFor, within } from './helpers/wait.js';

const far = () => Date.now() + 600_000;
const CLUSTERS = (gcpStale = false): ClusterSpec[] => [
  {
    name: 'aws-use1',
    locality: { cloud: 'aws', region: 'us-east-1' },
    gateways: [{ id: 'gw-a', leaseExpiresAt: far() }],
    services: [{ key: 'hello.default' }],
  },
  {
    name: 'gcp-euw1',
    locality: { cloud: 'gcp', region: 'europe-west1' },
    ...(gcpStale ? { freshness: 'stale' as const, staleSince: Date.now() - 1000 } : {}),
    gateways: [
      {
        id: 'gw-g',
        leaseExpiresAt: gcpStale ? Date.now() - 1000 : far(),
        ...(gcpStale ? { freshness: 'stale' as const } : {}),
      },
    ],
    services: [{ key: 'hello.default' }, { key: 'greeter.default', protocol: 'grpc' }],
  },
];

/** The data plane state fields the dashboard reads: one route and one peer link with an RTT. */
const dataPlaneState = () => ({
  routes: [
    {
      service: 'hello.default',
      local: ['10.0.0.1:8080'],
      failover: [
        { cluster: 'gcp-euw1', stale: false, gateways: [{ gateway: 'gcp-euw1/gw-g', available: true }] },
      ],
      deniedBy: [],
      unhealthyIn: [],
    },
  ],
  peers: [
    {
      cluster: 'gcp-euw1',
      gatewayId: 'gw-g',
      address: '127.0.2.1:4143',
      connected: true,
      rttMs: 0.42,
      available: true,
    },
  ],
});

function admin(
  cluster: string,
  id: string,
  view: StaticFabricView,
  redisUrl: string,
  golden: GoldenMetrics,
  withState: boolean,
) {
  return testAdmin({
    cluster,
    gatewayId: id,
    view,
    discoveryStatus: () => ({ clusters: { evicted: [{ name: 'old-dc', at: 1_700_000_000_000 }] } }),
    ...(withState ? { dataPlaneState } : {}),
    golden,
    redis: { mode: 'standalone', url: redisUrl },
    statsPublishIntervalMs: 200,
    dashboardPushIntervalMs: 200,
  });
}

/**
 * Reads server-sent events from a fetch body until `until` accepts one message's data; `afterFirst`
 * runs once the first message arrived (the stream is open: a change made now must reach it).
 */
async function readEvents(
  url: string,
  until: (data: FabricPicture) => boolean,
  ms: number,
  afterFirst?: () => void,
): Promise<FabricPicture[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  const seen: FabricPicture[] = [];
  try {
    const response = await fetch(url, { signal: controller.signal });
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(message)?.[1];
        const data = message
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        if (event !== 'fabric') continue;
        const picture = JSON.parse(data) as FabricPicture;
        seen.push(picture);
        if (until(picture)) return seen;
        if (seen.length === 1) afterFirst?.();
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  throw new Error(`the stream ended after ${seen.length} messages without the expected one`);
}

test('dashboard page, fabric picture, live events and golden scopes', { timeout: 60_000 }, async (t) => {
  const redis = await RedisServerProcess.start();
  t.after(() => redis.stop());
  const raw = new Redis(redis.port, '127.0.0.1');
  t.after(() => raw.disconnect());
  const view = new StaticFabricView(CLUSTERS());
  const awsGolden = new GoldenMetrics();
  const gcpGolden = new GoldenMetrics();
  for (let i = 0; i < 20; i++) awsGolden.edge('aws-use1', 'hello.default', 'gcp-euw1').record(200, 0.003);
  for (let i = 0; i < 30; i++)
    gcpGolden.edge('gcp-euw1', 'hello.default', 'gcp-euw1').record(i < 3 ? 500 : 200, 0.001);
  const aws = admin('aws-use1', 'gw-a', view, redis.url, awsGolden, true);
  const gcp = admin('gcp-euw1', 'gw-g', new StaticFabricView(CLUSTERS()), redis.url, gcpGolden, false);
  await aws.start();
  t.after(() => aws.close());
  await gcp.start();
  t.after(() => gcp.close());
  const base = `http://127.0.0.1:${aws.address().port}`;

  // The page: one response with its CSS and JS inlined, revalidated by ETag.
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await page.text();
  assert.ok(html.length < 60_000, `${html.length} bytes`);
  assert.match(html, /<svg id="map"/);
  assert.match(html, /new EventSource\('api\/v1\/events'\)/);
  assert.doesNotMatch(
    html,
    /\/\*(STYLE|SCRIPT)\*\/|https?:\/\/(?!www\.w3\.org)/,
    'assets inlined; no external URLs',
  );
  const etag = page.headers.get('etag') ?? '';
  assert.equal((await fetch(`${base}/`, { headers: { 'if-none-match': etag } })).status, 304);

  const picture = await within('gcp-euw1 reporting in the picture', 10_000, async () => {
    const body = (await (await fetch(`${base}/api/v1/fabric`)).json()) as FabricPicture;
    return body.stats.reporting.includes('gcp-euw1/gw-g') ? body : undefined;
  });
  assert.deepEqual(
    picture.clusters.map((c) => [c.name, c.cloud, c.freshness, c.local]),
    [
      ['aws-use1', 'aws', 'live', true],
      ['gcp-euw1', 'gcp', 'live', false],
    ],
  );
  assert.deepEqual(
    picture.clusters[1]?.services.map((s) => s.service),
    ['greeter.default', 'hello.default'],
  );
  assert.deepEqual(picture.evicted, [{ name: 'old-dc', at: 1_700_000_000_000 }]);
  assert.deepEqual(
    picture.links.map((l) => [l.fromCluster, l.toCluster, l.rttMs, l.up]),
    [['aws-use1', 'gcp-euw1', 0.42, true]],
  );
  assert.deepEqual(
    picture.edges.map((e) => [
      e.source,
      e.service,
      e.destination,
      e.requests,
      e.successRate,
      e.reportedBy.join(),
    ]),
    [
      ['gcp-euw1', 'hello.default', 'gcp-euw1', 30, 0.9, 'gcp-euw1/gw-g'],
      ['aws-use1', 'hello.default', 'gcp-euw1', 20, 1, 'aws-use1/gw-a'],
    ],
  );

  const local = (await (await fetch(`${base}/api/v1/golden?scope=local`)).json()) as GoldenResponse;
  assert.deepEqual(local.reporting, ['aws-use1/gw-a']);
  assert.equal(local.edges.length, 1);
  const bad = await fetch(`${base}/api/v1/golden?scope=everything`);
  assert.equal(bad.status, 400);
  assert.match(
    ((await bad.json()) as { error: { message: string } }).error.message,
    /scope must be fabric or local/,
  );

  // An open stream sees gcp-euw1 go stale, with the event that says why.
  const messages = await readEvents(
    `${base}/api/v1/events`,
    (p) =>
      p.clusters.some((c) => c.name === 'gcp-euw1' && c.freshness === 'stale') &&
      p.events.some((e) => e.kind === 'cluster-stale'),
    10_000,
    () => view.publish(CLUSTERS(true)),
  );
  assert.ok(messages.length >= 2, 'the first message came before the change');
  assert.equal(messages[0]?.clusters.find((c) => c.name === 'gcp-euw1')?.freshness, 'live');
  const last = messages.at(-1)!;
  assert.deepEqual(last.events[0]?.observers, ['aws-use1/gw-a']);

  // A corrupt record of another gateway is skipped; the picture still answers.
  await gcp.close();
  assert.equal(await raw.exists(statsKey('gcp-euw1', 'gw-g')), 0, 'close() removed the record');
  await raw.set(statsKey('gcp-euw1', 'gw-g'), '{"v":1,"cluster":"gcp-euw1"', 'PX', 60_000);
  const after = await within('the corrupt record skipped', 10_000, async () => {
    const body = (await (await fetch(`${base}/api/v1/fabric`)).json()) as FabricPicture;
    return body.stats.reporting.includes('gcp-euw1/gw-g') ? undefined : body;
  });
  assert.deepEqual(after.stats.reporting, ['aws-use1/gw-a']);
  assert.deepEqual(
    aws.stats.status().skipped.map((s) => s.key),
    [statsKey('gcp-euw1', 'gw-g')],
  );

  // close() ends open streams.
  const open = fetch(`${base}/api/v1/events`);
  const response = await open;
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  await aws.close();
  await waitFor('the stream ends on close', async () => (await reader.read()).done, 5_000);
});

test('stats records: corrupt or foreign ones are refused with a reason', () => {
  const good = JSON.stringify({
    v: 1,
    cluster: 'a-b',
    gateway: 'gw-1',
    at: 1,
    windowMs: 30000,
    edges: [],
    peers: [],
    events: [],
  });
  assert.equal(typeof decodeStatsRecord(good), 'object');
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{', /not JSON/],
    ['other version', good.replace('"v":1', '"v":2'), /v/],
    ['bad cluster name', good.replace('"a-b"', '"A B"'), /cluster/],
    [
      'negative rate',
      JSON.stringify({
        ...JSON.parse(good),
        edges: [{ src: 'a', svc: 's', dst: 'b', n: 1, rps: -1, success: 1, p50: 1, p95: 1, p99: 1 }],
      }),
      /edges/,
    ],
    [
      'success above 1',
      JSON.stringify({
        ...JSON.parse(good),
        edges: [{ src: 'a', svc: 's', dst: 'b', n: 1, rps: 1, success: 2, p50: 1, p95: 1, p99: 1 }],
      }),
      /success/,
    ],
    ['too large', ' '.repeat(300 * 1024), /too large/],
  ];
  for (const [name, text, reason] of cases) {
    const decoded = decodeStatsRecord(text);
    assert.equal(typeof decoded, 'string', name);
    assert.match(decoded as string, reason, name);
  }
});
