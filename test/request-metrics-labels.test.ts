// What weft_requests_total says about gRPC calls and about the answers the gateways give themselves:
// each request counted once, with the gRPC status a gRPC caller got, and under the calling cluster and
// the service it named wherever the gateway knows them (a refusal is an operator's first question:
// who was refused, calling what). Golden metrics count gRPC errors as failures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { GoldenMetrics } from '../gateway/observability/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { rawExchange } from './helpers/raw-exchange.js';
import {
  echoClientConstructor,
  startGrpcUpstream,
  startHttpUpstream,
  type SampleServer,
} from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

/** The weft_requests_total series of `registry` whose labels include every pair of `labels`, summed. */
async function requests(registry: Registry, labels: Readonly<Record<string, string>>): Promise<number> {
  const wanted = Object.entries(labels).map(([name, value]) => `${name}="${value}"`);
  let total = 0;
  for (const line of (await registry.metrics()).split('\n')) {
    if (!line.startsWith('weft_requests_total{')) continue;
    const inside = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const pairs = inside.split(',');
    if (wanted.every((pair) => pairs.includes(pair))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('request metrics: gRPC statuses and the gateway’s own refusals', () => {
  let fabric: TestFabric;
  let echoB: SampleServer;
  let helloB: SampleServer;
  const golden = new GoldenMetrics();
  const clients: grpc.Client[] = [];

  before(async () => {
    echoB = await startGrpcUpstream('127.0.2.60', 'echo@b');
    helloB = await startHttpUpstream('127.0.2.61', 'hello@b');
    fabric = await TestFabric.start(
      [
        {
          cluster: 'a',
          host: '127.0.1.1',
          tcp: [{ service: 'nodb.default' }],
          observability: { accessLogSampleRate: 1 },
        },
        {
          cluster: 'b',
          host: '127.0.2.1',
          services: [
            { name: 'echo', protocol: 'grpc', endpoints: [echoB.endpoint] },
            // Nothing listens on port 9 of this address: calls to it fail to connect.
            { name: 'gone', protocol: 'grpc', endpoints: ['127.0.2.62:9'] },
            { name: 'hello', endpoints: [helloB.endpoint] },
            { name: 'secret', endpoints: [helloB.endpoint], allow: ['c'] },
          ],
        },
      ],
      { golden },
    );
  });

  after(async () => {
    for (const client of clients) client.close();
    await fabric?.close();
    await echoB?.close();
    await helloB?.close();
  });

  const call = (authority: string, method: 'Unary' | 'Fail'): Promise<grpc.status> => {
    const Echo = echoClientConstructor();
    const client = new Echo(
      `127.0.1.1:${fabric.gateway('a').outboundPort}`,
      grpc.credentials.createInsecure(),
      { 'grpc.default_authority': authority },
    ) as unknown as Record<
      string,
      (request: object, callback: (err: grpc.ServiceError | null) => void) => void
    >;
    clients.push(client as unknown as grpc.Client);
    return new Promise((resolve) =>
      client[method]!({ text: 'x' }, (err) => resolve(err ? err.code : grpc.status.OK)),
    );
  };

  test('gRPC calls are counted with the gRPC status the caller got, on both gateways', async () => {
    const a = fabric.gateway('a');
    const b = fabric.gateway('b');
    assert.equal(await call('echo', 'Unary'), grpc.status.OK);
    assert.equal(await call('echo', 'Fail'), grpc.status.FAILED_PRECONDITION);
    assert.equal(await call('gone', 'Unary'), grpc.status.UNAVAILABLE);
    assert.equal(await call('nosuch', 'Unary'), grpc.status.NOT_FOUND);

    const echo = { destination_service: 'echo.default', destination_cluster: 'b', code: '200' };
    for (const [grpcStatus, count] of [
      ['0', 1],
      ['9', 1],
    ] as const) {
      assert.equal(
        await requests(a.metrics, { ...echo, listener: 'outbound', grpc_status: grpcStatus }),
        count,
      );
      const peer = { ...echo, listener: 'peer', source_cluster: 'a', grpc_status: grpcStatus };
      await waitFor(
        `b to count the grpc_status ${grpcStatus} call`,
        async () => (await requests(b.metrics, peer)) === count,
        5_000,
      );
    }
    assert.equal(await requests(a.metrics, { destination_service: 'gone.default', grpc_status: '14' }), 1);
    assert.equal(
      await requests(a.metrics, { destination_service: '(unknown)', code: '200', grpc_status: '5' }),
      1,
    );

    const edge = golden.summary().edges.find((e) => e.service === 'echo.default' && e.destination === 'b');
    assert.deepEqual([edge?.requests, edge?.failures], [2, 1], 'the FAILED_PRECONDITION call is a failure');
    const gone = golden.summary().edges.find((e) => e.service === 'gone.default');
    assert.equal(gone?.failures, 1);
  });

  test('the calling gateway counts its refusal of a known service under that service', async () => {
    const a = fabric.gateway('a');
    const answer = await httpCall(`${a.outboundUrl}/whoami`, { headers: { host: 'secret' } });
    assert.equal(answer.status, 403);
    const labels = { listener: 'outbound', destination_service: 'secret.default', code: '403' };
    assert.equal(await requests(a.metrics, { ...labels, destination_cluster: '(none)' }), 1);
  });

  test('a peer’s refused requests are counted under the calling cluster and, when served here, the service', async () => {
    const a = fabric.gateway('a');
    const b = fabric.gateway('b');
    // What a believes: b exports ghost (it does not), and anyone may call b's secret (only c may).
    const clusters = [...fabric.view.snapshot().clusters.values()].map((cluster) => {
      if (cluster.name !== 'b') return cluster;
      const services = new Map(cluster.services);
      const hello = services.get('hello.default')!;
      services.set('ghost.default', { ...hello, name: 'ghost', key: 'ghost.default' });
      services.set('secret.default', { ...services.get('secret.default')!, allow: null });
      return { ...cluster, services };
    });
    fabric.view.publish(clusters);
    try {
      const denied = await httpCall(`${a.outboundUrl}/whoami`, { headers: { host: 'secret' } });
      assert.equal(denied.status, 403);
      const unserved = await httpCall(`${a.outboundUrl}/whoami`, { headers: { host: 'ghost' } });
      assert.equal(unserved.status, 404);
      const peer = { listener: 'peer', source_cluster: 'a', destination_cluster: 'b' };
      await waitFor(
        'b to count both refusals',
        async () => {
          const forbidden = await requests(b.metrics, {
            ...peer,
            destination_service: 'secret.default',
            code: '403',
          });
          const unknown = await requests(b.metrics, {
            ...peer,
            destination_service: '(unknown)',
            code: '404',
          });
          return forbidden === 1 && unknown === 1;
        },
        5_000,
      );
      assert.equal(await requests(b.metrics, { source_cluster: '(unverified)' }), 0);
    } finally {
      fabric.publish();
    }
  });

  test('heads Node’s parser refuses are counted; a refused request is in the access log', async () => {
    const a = fabric.gateway('a');
    const before431 = await requests(a.metrics, { listener: 'outbound', code: '431' });
    const oversized = await rawExchange(
      a.outboundPort,
      '127.0.1.1',
      `GET / HTTP/1.1\r\nhost: hello\r\nx-big: ${'x'.repeat(40 * 1024)}\r\n\r\n`,
    );
    assert.match(oversized.got, /^HTTP\/1\.1 431 /);
    const garbage = await rawExchange(a.outboundPort, '127.0.1.1', 'GARBAGE\r\n\r\n');
    assert.match(garbage.got, /^HTTP\/1\.1 400 /);
    assert.equal(await requests(a.metrics, { listener: 'outbound', code: '431' }), before431 + 1);
    assert.equal(
      await requests(a.metrics, { listener: 'outbound', destination_service: '(unknown)', code: '400' }),
      1,
    );

    const coded = await rawExchange(
      a.outboundPort,
      '127.0.1.1',
      'POST /upload HTTP/1.1\r\nhost: hello\r\ntransfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n0\r\n\r\n',
    );
    assert.match(coded.got, /^HTTP\/1\.1 501 /);
    const logged = a.accessLog.filter((line) => line.path === '/upload');
    assert.deepEqual(
      logged.map((line) => [line.method, line.status, line.error]),
      [['POST', 501, 'NOT_IMPLEMENTED']],
    );
  });

  test('a tcp: listener bound to a service nobody exports counts under that service', async () => {
    const a = fabric.gateway('a');
    const socket = connect({ port: a.tcpPort('nodb.default'), host: '127.0.1.1' });
    await new Promise<void>((resolve) => socket.on('close', () => resolve()).on('error', () => undefined));
    const labels = { listener: 'tcp', destination_service: 'nodb.default', destination_cluster: '(none)' };
    await waitFor(
      'the refused tunnel to be counted',
      async () => (await requests(a.metrics, labels)) === 1,
      5_000,
    );
    assert.equal(await requests(a.metrics, { listener: 'tcp', destination_service: '(unknown)' }), 0);
  });
});
