// LocalHealthChecker against real servers on loopback: HTTP (answers, fails, goes down and comes back,
// hangs, flaps), gRPC grpc.health.v1 (NOT_SERVING, shut down) and TCP; rise/fall thresholds, checks that
// never overlap, cancelled checks of removed endpoints, and the snapshot/summary/subscribe contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { LocalCatalog } from '../gateway/catalog/index.js';
import type { ServiceConfig } from '../gateway/config/index.js';
import { LocalHealthChecker, type HealthSnapshot } from '../gateway/health/index.js';
import { GreeterGrpcServer } from '../gateway/demo/workloads/greeter-grpc.js';
import { parseTestConfig } from './helpers/gateway-config.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.5.1';

type Mode = 'ok' | 'fail' | 'hang' | 'flap';

/** An HTTP server whose health answer the test controls; counts requests and concurrent sockets. */
class HealthServer {
  mode: Mode = 'ok';
  requests = 0;
  /** performance.now() of each request's arrival. */
  readonly arrivals: number[] = [];
  open = 0;
  maxOpen = 0;
  closedSockets = 0;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  async listen(port = 0): Promise<void> {
    const server = createServer((req, res) => this.answer(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.open--;
        this.closedSockets++;
      });
    });
    server.listen(port, HOST);
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  }

  get endpoint(): string {
    return `${HOST}:${this.port}`;
  }

  private answer(_req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.arrivals.push(performance.now());
    const mode = this.mode === 'flap' ? (this.requests % 2 === 0 ? 'fail' : 'ok') : this.mode;
    if (mode === 'hang') return;
    res.statusCode = mode === 'ok' ? 200 : 503;
    res.end(mode);
  }
}

function services(list: readonly Record<string, unknown>[]): readonly ServiceConfig[] {
  return parseTestConfig(list).services;
}

function start(catalog: LocalCatalog) {
  const logs: string[] = [];
  const logger = {
    info: (fields: object, message: string) => logs.push(`info ${message} ${JSON.stringify(fields)}`),
    warn: (fields: object, message: string) => logs.push(`warn ${message} ${JSON.stringify(fields)}`),
  };
  const checker = new LocalHealthChecker({ catalog, logger, random: () => 0.5 });
  const snapshots: HealthSnapshot[] = [];
  checker.subscribe((s) => snapshots.push(s));
  checker.start();
  return { checker, logs, snapshots };
}

const FAST = { interval: '40ms', timeout: '300ms', rise: 2, fall: 2 };

test('HTTP: fall failures make an endpoint unhealthy, rise successes bring it back; summary and subscribers follow', async (t) => {
  const a = new HealthServer();
  const b = new HealthServer();
  await a.listen();
  await b.listen();
  t.after(() => Promise.all([a.close(), b.close()]));
  const catalog = new LocalCatalog(
    services([{ name: 'hello', endpoints: [a.endpoint, b.endpoint], health: { http: '/healthz', ...FAST } }]),
  );
  const { checker, logs, snapshots } = start(catalog);
  t.after(() => checker.close());

  await waitFor('both checked', () => checker.details().every((d) => d.status === 'healthy'), 5000);
  assert.deepEqual(checker.summary('hello.default'), { total: 2, healthy: 2 });

  a.mode = 'fail';
  const before = a.requests;
  await waitFor('a unhealthy', () => !checker.isHealthy('hello.default', HOST, a.port), 5000);
  assert.ok(a.requests - before >= 2, 'fall = 2: not before the second failure');
  assert.deepEqual(checker.summary('hello.default'), { total: 2, healthy: 1 });
  assert.equal(checker.isHealthy('hello.default', HOST, b.port), true);
  const detail = checker.details().find((d) => d.endpoint === a.endpoint);
  assert.equal(detail?.lastError, 'HTTP 503');
  assert.equal(detail?.check, 'http /healthz');
  assert.ok(snapshots.at(-1)?.summary('hello.default')?.healthy === 1, 'subscribers saw the change');
  assert.ok(
    logs.some((l) => l.startsWith('warn endpoint failed its health check') && l.includes('HTTP 503')),
  );

  a.mode = 'ok';
  const recovering = a.requests;
  await waitFor('a healthy again', () => checker.isHealthy('hello.default', HOST, a.port), 5000);
  assert.ok(a.requests - recovering >= 2, 'rise = 2: not before the second success');
  assert.deepEqual(checker.summary('hello.default'), { total: 2, healthy: 2 });
  assert.ok(logs.some((l) => l.startsWith('info endpoint passes its health check again')));
});

test('HTTP: a server that goes down is unhealthy (refused), and healthy when it listens again', async (t) => {
  const server = new HealthServer();
  await server.listen();
  const port = server.port;
  t.after(() => server.close());
  const catalog = new LocalCatalog(
    services([{ name: 'hello', endpoints: [server.endpoint], health: { http: '/', ...FAST } }]),
  );
  const { checker } = start(catalog);
  t.after(() => checker.close());
  await waitFor('healthy', () => checker.details()[0]?.status === 'healthy', 5000);
  await server.close();
  await waitFor('unhealthy', () => !checker.isHealthy('hello.default', HOST, port), 5000);
  assert.equal(checker.details()[0]?.lastError, 'ECONNREFUSED');
  assert.deepEqual(checker.summary('hello.default'), { total: 1, healthy: 0 });
  await server.listen(port);
  await waitFor('healthy again', () => checker.isHealthy('hello.default', HOST, port), 5000);
});

test('HTTP: a hanging server times out; checks never overlap even when the timeout exceeds the interval', async (t) => {
  const server = new HealthServer();
  await server.listen();
  server.mode = 'hang';
  t.after(() => server.close());
  const catalog = new LocalCatalog(
    services([
      {
        name: 'hello',
        endpoints: [server.endpoint],
        health: { http: '/', interval: '20ms', timeout: '150ms', rise: 1, fall: 2 },
      },
    ]),
  );
  const { checker } = start(catalog);
  t.after(() => checker.close());
  await waitFor('unhealthy by timeout', () => !checker.isHealthy('hello.default', HOST, server.port), 5000);
  assert.equal(checker.details()[0]?.lastError, 'no answer within 150 ms');
  await waitFor('several timed-out checks', () => server.requests >= 4, 5000);
  // Were checks overlapping, a new one would start every 20 ms; one at a time, they are ~150 ms apart
  // (measured at the server, so connection setup blurs each arrival by some milliseconds).
  const gaps = server.arrivals.slice(1).map((at, i) => at - (server.arrivals[i] ?? 0));
  assert.ok(
    gaps.every((gap) => gap >= 75),
    `gaps between checks: ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`,
  );
  const durations = checker.details()[0]?.lastDurationMs ?? 0;
  assert.ok(durations >= 140 && durations < 1000, `a check lasted ${durations} ms`);
});

test('HTTP: a flapping endpoint (every other check fails) never flaps traffic with fall 2', async (t) => {
  const server = new HealthServer();
  await server.listen();
  server.mode = 'flap';
  t.after(() => server.close());
  const catalog = new LocalCatalog(
    services([{ name: 'hello', endpoints: [server.endpoint], health: { http: '/', ...FAST } }]),
  );
  const { checker, snapshots } = start(catalog);
  t.after(() => checker.close());
  await waitFor('12 checks', () => server.requests >= 12, 5000);
  assert.equal(checker.isHealthy('hello.default', HOST, server.port), true);
  assert.equal(snapshots.length, 1, 'only the initial snapshot: the routing answer never changed');
});

test('gRPC: grpc.health.v1 NOT_SERVING is unhealthy, SERVING healthy, a stopped server unhealthy', async (t) => {
  const grpcServer = new GreeterGrpcServer(HOST, 0, 'aws-use1');
  const port = await grpcServer.start();
  let closed = false;
  t.after(() => (closed ? undefined : grpcServer.close()));
  const catalog = new LocalCatalog(
    services([
      {
        name: 'greeter',
        protocol: 'grpc',
        endpoints: [`${HOST}:${port}`],
        health: { grpc: 'weft.demo.Greeter', ...FAST },
      },
    ]),
  );
  const { checker } = start(catalog);
  t.after(() => checker.close());
  await waitFor('healthy', () => checker.details()[0]?.status === 'healthy', 5000);
  assert.equal(checker.details()[0]?.check, 'grpc weft.demo.Greeter');
  grpcServer.setServing(false);
  await waitFor('NOT_SERVING → unhealthy', () => !checker.isHealthy('greeter.default', HOST, port), 5000);
  assert.equal(checker.details()[0]?.lastError, 'gRPC health status NOT_SERVING');
  grpcServer.setServing(true);
  await waitFor('healthy again', () => checker.isHealthy('greeter.default', HOST, port), 5000);
  await grpcServer.close();
  closed = true;
  await waitFor('server gone → unhealthy', () => !checker.isHealthy('greeter.default', HOST, port), 5000);
  assert.match(checker.details()[0]?.lastError ?? '', /^gRPC UNAVAILABLE/);
});

test('TCP: a listening port is healthy, a closed one unhealthy, and healthy again when it reopens', async (t) => {
  const listen = async (port: number): Promise<TcpServer> => {
    const server = createTcpServer((socket) => socket.destroy());
    server.listen(port, HOST);
    await once(server, 'listening');
    return server;
  };
  let server = await listen(0);
  const port = (server.address() as AddressInfo).port;
  t.after(() => server.close());
  const catalog = new LocalCatalog(
    services([
      { name: 'db', protocol: 'tcp', endpoints: [`${HOST}:${port}`], health: { tcp: true, ...FAST } },
    ]),
  );
  const { checker } = start(catalog);
  t.after(() => checker.close());
  await waitFor('healthy', () => checker.details()[0]?.status === 'healthy', 5000);
  server.close();
  await once(server, 'close');
  await waitFor('unhealthy', () => !checker.isHealthy('db.default', HOST, port), 5000);
  server = await listen(port);
  await waitFor('healthy again', () => checker.isHealthy('db.default', HOST, port), 5000);
});

test('endpoints without a health config are healthy and shown as unchecked', (t) => {
  const catalog = new LocalCatalog(services([{ name: 'hello', endpoints: ['127.0.5.9:1'] }]));
  const { checker } = start(catalog);
  t.after(() => checker.close());
  assert.equal(checker.isHealthy('hello.default', '127.0.5.9', 1), true);
  assert.deepEqual(checker.summary('hello.default'), { total: 1, healthy: 1 });
  assert.equal(checker.details()[0]?.status, 'unchecked');
  assert.equal(checker.summary('nope.default'), undefined);
});

test('removing an endpoint cancels its check in flight and stops checking it; catalog changes are published', async (t) => {
  const hanging = new HealthServer();
  const clock = new HealthServer();
  await hanging.listen();
  await clock.listen();
  hanging.mode = 'hang';
  t.after(() => Promise.all([hanging.close(), clock.close()]));
  const health = { http: '/', interval: '20ms', timeout: '10s', rise: 1, fall: 1 };
  const catalog = new LocalCatalog(
    services([{ name: 'hello', endpoints: [hanging.endpoint, clock.endpoint], health }]),
  );
  const { checker, snapshots } = start(catalog);
  t.after(() => checker.close());
  await waitFor('a check in flight on the hanging endpoint', () => hanging.requests === 1, 5000);
  catalog.replaceConfigServices(services([{ name: 'hello', endpoints: [clock.endpoint], health }]));
  await waitFor('the in-flight check aborted', () => hanging.closedSockets === 1, 5000);
  assert.deepEqual(snapshots.at(-1)?.summary('hello.default'), { total: 1, healthy: 1 });
  const seen = clock.requests;
  await waitFor('five more checks of the remaining endpoint', () => clock.requests >= seen + 5, 5000);
  assert.equal(hanging.requests, 1, 'never checked again');
  assert.equal(checker.details().length, 1);
});

test('a reload that changes only timings or thresholds keeps an unhealthy endpoint out', async (t) => {
  const server = new HealthServer();
  await server.listen();
  t.after(() => server.close());
  const health = { http: '/healthz', ...FAST };
  const catalog = new LocalCatalog(services([{ name: 'hello', endpoints: [server.endpoint], health }]));
  const { checker, snapshots } = start(catalog);
  t.after(() => checker.close());
  server.mode = 'fail';
  await waitFor('unhealthy', () => !checker.isHealthy('hello.default', HOST, server.port), 5000);

  catalog.replaceConfigServices(
    services([
      { name: 'hello', endpoints: [server.endpoint], health: { ...health, interval: '60ms', rise: 3 } },
    ]),
  );
  assert.equal(checker.details()[0]?.status, 'unhealthy', 'the state carries over');
  assert.equal(checker.details()[0]?.lastError, 'HTTP 503');
  assert.equal(snapshots.at(-1)?.isHealthy('hello.default', HOST, server.port), false);

  server.mode = 'ok';
  const recovering = server.requests;
  await waitFor('healthy again', () => checker.isHealthy('hello.default', HOST, server.port), 5000);
  assert.ok(server.requests - recovering >= 3, 'the new rise = 3: not before the third success');
});

test('a changed health config restarts the check; close() aborts checks in flight', async (t) => {
  const server = new HealthServer();
  await server.listen();
  t.after(() => server.close());
  const catalog = new LocalCatalog(
    services([{ name: 'hello', endpoints: [server.endpoint], health: { http: '/a', ...FAST } }]),
  );
  const { checker } = start(catalog);
  await waitFor('checked', () => checker.details()[0]?.status === 'healthy', 5000);
  server.mode = 'hang';
  catalog.replaceConfigServices(
    services([
      { name: 'hello', endpoints: [server.endpoint], health: { http: '/b', ...FAST, timeout: '10s' } },
    ]),
  );
  assert.equal(checker.details()[0]?.status, 'unknown', 'a new check starts from unknown');
  assert.equal(checker.details()[0]?.check, 'http /b');
  await waitFor('a check in flight', () => server.open === 1, 5000);
  checker.close();
  await waitFor('aborted by close', () => server.open === 0, 5000);
  const requests = server.requests;
  catalog.replaceConfigServices(
    services([{ name: 'hello', endpoints: [server.endpoint], health: { http: '/c', ...FAST } }]),
  );
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(server.requests, requests, 'a closed checker ignores the catalog');
});

test('a catalog change that starts or stops no check publishes nothing; the counts follow it all the same', async (t) => {
  const server = new HealthServer();
  await server.listen();
  t.after(() => server.close());
  const catalog = new LocalCatalog(
    services([
      { name: 'hello', endpoints: [server.endpoint], health: { http: '/', ...FAST } },
      { name: 'plain', endpoints: ['127.0.5.9:1'] },
    ]),
  );
  const { checker, snapshots } = start(catalog);
  t.after(() => checker.close());
  await waitFor('hello checked', () => checker.details()[0]?.status === 'healthy', 5000);
  const published = snapshots.length;
  const spec = { name: 'plain', namespace: 'default', protocol: 'http' as const };
  const id = catalog.register('test', { ...spec, endpoints: [{ host: '127.0.5.9', port: 2, weight: 1 }] });
  assert.equal(snapshots.length, published, 'no check started: nothing published');
  assert.deepEqual(checker.summary('plain.default'), { total: 2, healthy: 2 });
  catalog.deregister(id);
  assert.equal(snapshots.length, published);
  assert.deepEqual(checker.summary('plain.default'), { total: 1, healthy: 1 });

  catalog.register('test', {
    name: 'hello',
    namespace: 'default',
    protocol: 'http',
    endpoints: [{ host: HOST, port: 1, weight: 1 }],
  });
  assert.equal(snapshots.length, published + 1, 'a check started: published');
  assert.equal(checker.details().length, 3);
});
