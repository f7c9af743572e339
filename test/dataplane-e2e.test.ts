// The data plane end to end with real discovery: three gateways (a, b, c on their own loopback
// addresses) share a real redis-server, learn each other's services and peer addresses through
// Discovery, and carry HTTP/1.1, gRPC and opaque TCP from cluster a to services that only b runs,
// with c's allow list enforced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Discovery } from '../discovery/index.js';
import { TlsMaterial } from '../infra/index.js';
import { exportsOf, LocalCatalog } from '../gateway/catalog/index.js';
import { parseConfigObject } from '../gateway/config/index.js';
import { tcpRoundTrip } from '../gateway/demo/demo-calls.js';
import { freePort } from '../gateway/demo/free-port.js';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import { DataPlane } from '../gateway/index.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { FAST_TIMINGS } from './helpers/discovery-fixture.js';
import { httpCall } from './helpers/http-call.js';
import {
  echoClientConstructor,
  patternBytes,
  startGrpcUpstream,
  startHttpUpstream,
  startTcpEcho,
  type SampleServer,
} from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

interface Running {
  readonly cluster: string;
  readonly host: string;
  readonly dataPlane: DataPlane;
  readonly discovery: Discovery;
  readonly tls: TlsMaterial;
  readonly tcpPort: number | undefined;
}

describe('data plane end to end with real discovery', () => {
  let dir: string;
  let redis: RedisServerProcess | undefined;
  const gateways = new Map<string, Running>();
  const upstreams: SampleServer[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-e2e-'));
    redis = process.env.REDIS_URL ? undefined : await RedisServerProcess.start();
    const redisUrl = process.env.REDIS_URL ?? (redis as RedisServerProcess).url;
    const pki = await createFabricPki(dir, { trustDomain: 'weft.test', clusters: ['a', 'b', 'c'] });
    const hello = await startHttpUpstream('127.0.2.50', 'hello@b');
    const greeter = await startGrpcUpstream('127.0.2.51', 'greeter@b');
    const db = await startTcpEcho('127.0.2.52');
    const secret = await startHttpUpstream('127.0.3.50', 'secret@c');
    upstreams.push(hello, greeter, db, secret);
    const specs = [
      { cluster: 'a', host: '127.0.1.1', services: [], tcp: ['db.default'] },
      {
        cluster: 'b',
        host: '127.0.2.1',
        services: [
          { name: 'hello', endpoints: [hello.endpoint] },
          { name: 'greeter', protocol: 'grpc', endpoints: [greeter.endpoint] },
          { name: 'db', protocol: 'tcp', endpoints: [db.endpoint] },
        ],
        tcp: [],
      },
      {
        cluster: 'c',
        host: '127.0.3.1',
        services: [{ name: 'secret', endpoints: [secret.endpoint], allow: ['b'] }],
        tcp: [],
      },
    ];
    for (const spec of specs) {
      const peerPort = await freePort(spec.host);
      const tcp = [];
      for (const service of spec.tcp)
        tcp.push({ listen: `${spec.host}:${await freePort(spec.host)}`, service });
      const config = parseConfigObject(
        {
          cluster: spec.cluster,
          locality: { cloud: spec.cluster, region: 'r1' },
          trustDomain: 'weft.test',
          redis: redisUrl,
          tls: pki.pathsOf(spec.cluster),
          listen: { outbound: `${spec.host}:0`, peer: `${spec.host}:${peerPort}` },
          services: spec.services,
          tcp,
        },
        join(dir, `${spec.cluster}.yaml`),
      );
      const tls = new TlsMaterial(config.tls);
      await tls.start();
      const catalog = new LocalCatalog(config.services);
      const discovery = new Discovery({
        redis: config.redis,
        cluster: config.cluster,
        locality: config.locality,
        gatewayId: 'gw-1',
        peerAddress: `${spec.host}:${peerPort}`,
        version: 'test',
        ...FAST_TIMINGS,
        snapshotFile: join(dir, `${spec.cluster}-snapshot.json`),
        metrics: new Registry(),
        startTimeoutMs: 5_000,
      });
      discovery.setLocalServices(exportsOf(catalog.services(), () => true));
      await discovery.start();
      const dataPlane = new DataPlane({
        config,
        view: discovery.view,
        catalog,
        tls: tls.current(),
        metrics: new Registry(),
        logger: pino({ level: 'silent' }),
      });
      await dataPlane.start();
      gateways.set(spec.cluster, {
        cluster: spec.cluster,
        host: spec.host,
        dataPlane,
        discovery,
        tls,
        tcpPort: dataPlane.ports.tcp[0]?.port,
      });
    }
    const a = gateways.get('a') as Running;
    await waitFor(
      'cluster a to learn b and c',
      () => {
        const routes = a.dataPlane.state().routes;
        return ['hello.default', 'greeter.default', 'db.default'].every((s) =>
          routes.some(
            (r) =>
              r.service === s &&
              r.failover.some((f) => f.cluster === 'b' && f.gateways.some((g) => g.available)),
          ),
        );
      },
      15_000,
    );
  });

  after(async () => {
    for (const gateway of gateways.values()) {
      await gateway.dataPlane.close();
      await gateway.discovery.close();
      await gateway.tls.close();
    }
    await Promise.all(upstreams.map((u) => u.close()));
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const a = () => gateways.get('a') as Running;
  const outbound = () => `http://${a().host}:${a().dataPlane.ports.outbound}`;

  test('HTTP/1.1 from a reaches hello in b, with the caller named in weft-source-cluster', async () => {
    const answer = await httpCall(`${outbound()}/whoami`, {
      headers: { host: 'hello.default.svc.clusterset.local' },
    });
    assert.equal(answer.status, 200);
    const body = JSON.parse(answer.body.toString()) as { servedBy: string; sourceCluster: string };
    assert.deepEqual([body.servedBy, body.sourceCluster], ['hello@b', 'a']);
  });

  test('gRPC unary from a reaches greeter in b', async () => {
    const Echo = echoClientConstructor();
    const client = new Echo(
      `${a().host}:${a().dataPlane.ports.outbound}`,
      grpc.credentials.createInsecure(),
      {
        'grpc.default_authority': 'greeter',
      },
    );
    try {
      const reply = await new Promise<{ servedBy: string; sourceCluster: string }>((resolve, reject) => {
        (
          client as unknown as {
            Unary(
              r: { text: string },
              cb: (e: Error | null, v?: { servedBy: string; sourceCluster: string }) => void,
            ): void;
          }
        ).Unary({ text: 'e2e' }, (err, value) =>
          err || !value ? reject(err ?? new Error('no reply')) : resolve(value),
        );
      });
      assert.deepEqual([reply.servedBy, reply.sourceCluster], ['greeter@b', 'a']);
    } finally {
      client.close();
    }
  });

  test('TCP from a reaches db in b byte-exact, half-close included', async () => {
    const payload = patternBytes(2 * 1024 * 1024);
    const echoed = await tcpRoundTrip(a().host, a().tcpPort as number, payload);
    assert.ok(echoed.equals(payload));
  });

  test('an allow list in c that excludes a is enforced (403 naming the rule)', async () => {
    await waitFor(
      'a to learn c',
      () =>
        a()
          .dataPlane.state()
          .routes.some((r) => r.service === 'secret.default'),
      15_000,
    );
    const answer = await httpCall(`${outbound()}/whoami`, { headers: { host: 'secret' } });
    assert.equal(answer.status, 403);
    assert.match(answer.body.toString(), /cluster a is not allowed to call service secret\.default/);
  });
});
