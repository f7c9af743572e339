import { test } from 'node:test';
import { connect as connectTcp, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import {
  AdminServer,
  type AdminServerOptions,
  type ServicesResponse,
  type StatusResponse,
} from '../gateway/admin/index.js';
import { decodeStatsRecord } from '../discovery/index.js';
import { LocalCatalog } from '../gateway/catalog/index.js';
import { FabricEvents, fabricEventOfFailover } from '../gateway/observability/index.js';
import { GatewayError } from '../gateway/errors.js';
import { StaticFabricView } from './helpers/static-fabric-view.js';
import { waitFor } from './helpers/wait.js';

const NOW = 1_700_000_000_000;
const identity = {
  cluster: 'aws-use1',
  gatewayId: 'gw-a',
  version: '0.1.0',
  locality: { cloud: 'aws', region: 'us-east-1', zone: 'us-east-1a' },
};

function fabric(): StaticFabricView {
  return new StaticFabricView(
    [
      {
        name: 'gcp-euw1',
        locality: { cloud: 'gcp', region: 'europe-west1' },
        freshness: 'stale',
        staleSince: NOW - 12_000,
        gateways: [{ id: 'gw-1', leaseExpiresAt: NOW - 12_000, freshness: 'stale' }],
        services: [{ key: 'hello.default', total: 2, healthy: 1, allow: ['aws-use1'] }],
      },
      {
        name: 'aws-use1',
        locality: identity.locality,
        gateways: [
          { id: 'gw-b', leaseExpiresAt: NOW + 3_000 },
          { id: 'gw-a', leaseExpiresAt: NOW + 4_000 },
        ],
        services: [{ key: 'hello.default', total: 2, healthy: 2 }],
      },
    ],
    { revision: 7, syncedAt: NOW - 400 },
  );
}

function catalog(): LocalCatalog {
  const c = new LocalCatalog([]);
  c.register('test', {
    name: 'db',
    namespace: 'shop',
    protocol: 'tcp',
    endpoints: [{ host: '10.0.0.9', port: 5432, weight: 1 }],
  });
  return c;
}

async function startAdmin(overrides: Partial<AdminServerOptions> = {}) {
  const admin = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: new Registry(),
    ready: () => true,
    health: () => true,
    view: fabric(),
    catalog: catalog(),
    discoveryStatus: () => ({ lease: 'held', evicted: 0 }),
    identity,
    now: () => NOW,
    ...overrides,
  });
  await admin.start();
  const { port } = admin.address();
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  return { admin, get };
}

test('admin: /api/v1/clusters lists the local cluster first with lease countdowns and staleness', async (t) => {
  const { admin, get } = await startAdmin();
  t.after(() => admin.close());
  const res = await get('/api/v1/clusters');
  assert.equal(res.status, 200);
  assert.match(res.type, /application\/json/);
  assert.deepEqual(JSON.parse(res.text), {
    revision: 7,
    clusters: [
      {
        name: 'aws-use1',
        local: true,
        locality: identity.locality,
        freshness: 'live',
        staleSince: null,
        staleForMs: null,
        gateways: [
          {
            cluster: 'aws-use1',
            id: 'gw-a',
            peerAddress: '127.0.0.1:4143',
            version: '0.1.0',
            startedAt: 1000,
            freshness: 'live',
            leaseExpiresAt: NOW + 4000,
            leaseRemainingMs: 4000,
            self: true,
          },
          {
            cluster: 'aws-use1',
            id: 'gw-b',
            peerAddress: '127.0.0.1:4143',
            version: '0.1.0',
            startedAt: 1000,
            freshness: 'live',
            leaseExpiresAt: NOW + 3000,
            leaseRemainingMs: 3000,
            self: false,
          },
        ],
        services: ['hello.default'],
      },
      {
        name: 'gcp-euw1',
        local: false,
        locality: { cloud: 'gcp', region: 'europe-west1' },
        freshness: 'stale',
        staleSince: NOW - 12000,
        staleForMs: 12000,
        gateways: [
          {
            cluster: 'gcp-euw1',
            id: 'gw-1',
            peerAddress: '127.0.0.1:4143',
            version: '0.1.0',
            startedAt: 1000,
            freshness: 'stale',
            leaseExpiresAt: NOW - 12000,
            leaseRemainingMs: -12000,
            self: false,
          },
        ],
        services: ['hello.default'],
      },
    ],
  });
  const gateways = JSON.parse((await get('/api/v1/gateways')).text) as { gateways: { id: string }[] };
  assert.deepEqual(
    gateways.gateways.map((g) => g.id),
    ['gw-a', 'gw-b', 'gw-1'],
  );
});

test('admin: /api/v1/services merges fabric exports with unpublished local catalog services', async (t) => {
  const { admin, get } = await startAdmin();
  t.after(() => admin.close());
  const body = JSON.parse((await get('/api/v1/services')).text) as ServicesResponse;
  assert.deepEqual(body, {
    revision: 7,
    services: [
      {
        service: 'db.shop',
        name: 'db',
        namespace: 'shop',
        protocol: 'tcp',
        clusters: [
          {
            cluster: 'aws-use1',
            local: true,
            freshness: 'unpublished',
            protocol: 'tcp',
            allow: null,
            endpoints: { total: 1, healthy: null },
          },
        ],
      },
      {
        service: 'hello.default',
        name: 'hello',
        namespace: 'default',
        protocol: 'http',
        clusters: [
          {
            cluster: 'aws-use1',
            local: true,
            freshness: 'live',
            protocol: 'http',
            allow: null,
            endpoints: { total: 2, healthy: 2 },
          },
          {
            cluster: 'gcp-euw1',
            local: false,
            freshness: 'stale',
            protocol: 'http',
            allow: ['aws-use1'],
            endpoints: { total: 2, healthy: 1 },
          },
        ],
      },
    ],
  });
});

test('admin: discovery, status, routes and endpoints', async (t) => {
  const { admin, get } = await startAdmin();
  t.after(() => admin.close());
  assert.deepEqual(JSON.parse((await get('/api/v1/discovery')).text), {
    revision: 7,
    source: 'redis',
    connected: true,
    syncedAt: NOW - 400,
    snapshotAgeMs: 400,
    clusters: { live: 1, stale: 1 },
    lastError: null,
    status: { lease: 'held', evicted: 0 },
  });
  const status = JSON.parse((await get('/api/v1/status')).text) as StatusResponse;
  assert.deepEqual(status.gateway, { ...identity, ready: true });
  assert.equal(status.discovery.snapshotAgeMs, 400);
  assert.deepEqual(
    status.clusters.map((c) => c.name),
    ['aws-use1', 'gcp-euw1'],
  );
  assert.deepEqual(
    status.services.map((s) => s.service),
    ['db.shop', 'hello.default'],
  );
  assert.deepEqual(JSON.parse((await get('/api/v1/routes')).text), {
    source: 'none',
    revision: null,
    routes: [],
  });
  assert.deepEqual(JSON.parse((await get('/api/v1/endpoints')).text), {
    source: 'catalog',
    endpoints: [{ service: 'db.shop', host: '10.0.0.9', port: 5432, weight: 1 }],
    peers: null,
    upstreamPools: null,
  });
});

test('admin: routes and endpoints come from the data plane when one is attached', async (t) => {
  const state = {
    revision: 3,
    peers: [{ cluster: 'gcp-euw1', connected: true }],
    routes: [{ service: 'hello.default', clusters: ['aws-use1'] }],
    endpoints: [{ service: 'hello.default', address: '10.0.0.5:8080', healthy: true }],
    upstreamPools: [{ endpoint: '10.0.0.5:8080', protocol: 'http', open: 2, idle: 1 }],
  };
  const { admin, get } = await startAdmin({ dataPlaneState: () => state });
  t.after(() => admin.close());
  assert.deepEqual(JSON.parse((await get('/api/v1/routes')).text), {
    source: 'data-plane',
    revision: 3,
    routes: state.routes,
  });
  assert.deepEqual(JSON.parse((await get('/api/v1/endpoints')).text), {
    source: 'data-plane',
    endpoints: state.endpoints,
    peers: state.peers,
    upstreamPools: state.upstreamPools,
  });
});

test("admin: the stats record reads the data plane's peers, not its whole state", async (t) => {
  let stateReads = 0;
  const peers = [{ cluster: 'gcp-euw1', gatewayId: 'gw-1', rttMs: 1.5, available: true, connected: true }];
  const { admin } = await startAdmin({
    dataPlaneState: () => {
      stateReads++;
      return { peers: [] };
    },
    peerStates: () => peers,
  });
  t.after(() => admin.close());
  assert.deepEqual(admin.stats.localRecord().peers, [
    { cluster: 'gcp-euw1', gateway: 'gw-1', rtt: 1.5, up: true, connected: true },
  ]);
  assert.equal(stateReads, 0);
});

test('admin: the events it is given start and stop with it; a failover to many clusters still makes a valid stats record', async (t) => {
  const view = fabric();
  const events = new FabricEvents({ view, observer: 'aws-use1/gw-a' });
  const { admin } = await startAdmin({ view, events });
  t.after(() => admin.close());
  assert.equal(view.listenerCount(), 1, 'started with the server: follows the view');
  // Locality mode puts every other cloud's clusters in one tier: a failover can move traffic to many.
  const gained = Array.from({ length: 8 }, (_, i) => `cluster-${i}-${'x'.repeat(50)}`);
  events.report(
    fabricEventOfFailover({
      type: 'failover',
      service: 'hello.default',
      cluster: 'aws-use1',
      cause: 'no-healthy-endpoints',
      to: gained,
      reason: 'aws-use1 has no healthy endpoint for hello.default',
    }),
  );
  const record = decodeStatsRecord(JSON.stringify(admin.stats.localRecord()));
  if (typeof record === 'string') assert.fail(`the record is refused: ${record}`);
  const [event] = record.events;
  assert.equal(event?.to?.length, 253);
  assert.ok(event?.to?.startsWith(`${gained[0]},${gained[1]},`));
  await admin.close();
  assert.equal(view.listenerCount(), 0, 'closed with the server');
});

test('admin: /readyz follows ready(), with a reason while discovery has not synced', async (t) => {
  let ready = false;
  const view = new StaticFabricView([], { syncedAt: null, source: 'disk', connected: false });
  const { admin, get } = await startAdmin({ ready: () => ready, view });
  t.after(() => admin.close());
  const notReady = await get('/readyz');
  assert.equal(notReady.status, 503);
  const body = JSON.parse(notReady.text) as { status: string; reason: string };
  assert.equal(body.status, 'not-ready');
  assert.match(body.reason, /discovery has not synced with Redis yet \(routing from the on-disk snapshot\)/);
  ready = true;
  assert.equal((await get('/readyz')).status, 200);
  assert.deepEqual(JSON.parse((await get('/readyz')).text), { status: 'ready' });
  assert.equal((await get('/healthz')).status, 200);
});

test('admin: /healthz answers 503 when health() says so', async (t) => {
  const { admin, get } = await startAdmin({ health: () => false });
  t.after(() => admin.close());
  const res = await get('/healthz');
  assert.equal(res.status, 503);
  assert.deepEqual(JSON.parse(res.text), { status: 'unhealthy' });
});

const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|NaN|Nan|\+Inf|-Inf)$/;

test('admin: /metrics is Prometheus text with process metrics, registered once per registry', async (t) => {
  const metrics = new Registry();
  const requests = new Counter({
    name: 'weft_test_requests_total',
    help: 'test',
    labelNames: ['cluster'],
    registers: [metrics],
  });
  requests.inc({ cluster: 'aws-use1' }, 3);
  const first = await startAdmin({ metrics });
  t.after(() => first.admin.close());
  // A second admin server on the same registry must not re-register the process metrics.
  const second = await startAdmin({ metrics });
  t.after(() => second.admin.close());

  const res = await first.get('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  assert.match(res.text, /^weft_test_requests_total\{cluster="aws-use1"\} 3$/m);
  assert.match(res.text, /^process_resident_memory_bytes \d+$/m);
  // prom-client prints NaN as "Nan" (an event-loop mean before its first sample); Prometheus parses both.
  for (const line of res.text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    assert.match(line, SAMPLE, `not a Prometheus sample line: ${line}`);
  }
});

test('admin: unknown paths get 404 JSON; a failing source gets 500 JSON and the server keeps serving', async (t) => {
  const { admin, get } = await startAdmin({
    discoveryStatus: () => {
      throw new Error('status exploded');
    },
  });
  t.after(() => admin.close());
  const missing = await get('/api/v1/nope');
  assert.equal(missing.status, 404);
  assert.deepEqual(JSON.parse(missing.text), {
    error: { code: 'NOT_FOUND', message: 'no such admin endpoint: GET /api/v1/nope; try GET /api/v1' },
  });
  const failing = await get('/api/v1/discovery');
  assert.equal(failing.status, 500);
  assert.deepEqual(JSON.parse(failing.text), { error: { code: 'INTERNAL', message: 'status exploded' } });
  assert.equal((await get('/healthz')).status, 200);
});

test('admin: event streams whose clients stopped reading are ended, so they do not hold every slot', async (t) => {
  // A fabric of 2000 services makes each push large, so a client that reads nothing fills the socket
  // buffers within a few seconds, and its stream is ended 10 pushes later. Two slots keep the load small.
  const services = Array.from({ length: 2000 }, (_, i) => ({ key: `service-${i}.default`, total: 3 }));
  const view = new StaticFabricView([{ name: 'gcp-euw1', services }], { revision: 1, syncedAt: NOW });
  const { admin } = await startAdmin({ view, dashboardPushIntervalMs: 20, maxEventStreams: 2 });
  t.after(() => admin.close());
  const { port } = admin.address();
  // As many clients as there are slots, each asking for the live stream and then reading nothing.
  const stalled: Socket[] = [];
  t.after(() => stalled.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 2; i++) {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    socket.pause();
    stalled.push(socket);
  }
  const eventsStatus = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/events`);
    await res.body?.cancel();
    return res.status;
  };
  await waitFor('both slots to be taken', async () => (await eventsStatus()) === 503, 10_000);
  await waitFor('a slot freed by a stalled stream', async () => (await eventsStatus()) === 200, 30_000);
});

test('admin: open event streams share one picture per push interval instead of building one each', async (t) => {
  let pictures = 0;
  const { admin } = await startAdmin({
    dashboardPushIntervalMs: 1000,
    discoveryStatus: () => {
      pictures++;
      return { lease: 'held', evicted: 0 };
    },
  });
  t.after(() => admin.close());
  const { port } = admin.address();
  const streams = 4;
  const pushes = 2;
  /** Reads `pushes` fabric messages from one event stream. */
  const read = async () => {
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { signal: controller.signal });
    let seen = 0;
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      seen += decoder.decode(chunk).split('event: fabric').length - 1;
      if (seen >= pushes) break;
    }
    controller.abort();
  };
  await Promise.all(Array.from({ length: streams }, read));
  console.log(`${streams} streams × ${pushes} pushes: ${pictures} pictures built`);
  assert.ok(pictures <= streams, `${pictures} pictures for ${streams * pushes} pushes`);
});

test('admin: a dozen open event streams add no listener each to the server, and closing ends them all', async (t) => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const { admin } = await startAdmin({ dashboardPushIntervalMs: 50 });
  t.after(() => admin.close());
  const { port } = admin.address();
  const readers = await Promise.all(
    Array.from({ length: 12 }, async () => {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/events`);
      const body = (response.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
      for (;;) {
        const next = await body.next();
        if (next.done !== true && new TextDecoder().decode(next.value).includes('event: fabric')) return body;
      }
    }),
  );
  /** Reads a stream to its end; a connection the server closes counts as its end. */
  const ended = async (body: AsyncIterator<Uint8Array>) => {
    try {
      while (!(await body.next()).done);
    } catch {
      // closed under the reader
    }
  };
  // A warning is emitted on the tick after the listener that crossed the limit.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings, []);
  let endedStreams = 0;
  for (const body of readers) void ended(body).then(() => endedStreams++);
  await admin.close();
  await waitFor('every stream to end once the server closes', () => endedStreams === readers.length, 5_000);
});

test('admin: a taken port rejects start() with LISTEN_FAILED; close() is idempotent in any state', async () => {
  const { admin: holder } = await startAdmin();
  const taken = holder.address();
  const clash = new AdminServer({
    listen: taken,
    metrics: new Registry(),
    ready: () => true,
    health: () => true,
    view: fabric(),
    catalog: catalog(),
    discoveryStatus: () => null,
    identity,
  });
  await assert.rejects(clash.start(), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'LISTEN_FAILED');
    assert.equal(
      err.message,
      `admin API (listen.admin) cannot listen on 127.0.0.1:${taken.port}: another process (an earlier gateway?) already listens there (EADDRINUSE)`,
    );
    return true;
  });
  await clash.close();
  await clash.close();
  await holder.close();
  await holder.close();
  const neverStarted = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: new Registry(),
    ready: () => true,
    health: () => true,
    view: fabric(),
    catalog: catalog(),
    discoveryStatus: () => null,
    identity,
  });
  await neverStarted.close();

  const raced = new AdminServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: new Registry(),
    ready: () => true,
    health: () => true,
    view: fabric(),
    catalog: catalog(),
    discoveryStatus: () => null,
    identity,
  });
  const starting = raced.start();
  await raced.close();
  await starting;
  assert.throws(() => raced.address(), /not listening/);
});
