// A gRPC endpoint that allows few concurrent streams per connection (Kestrel allows 100; this one 2):
// long-lived calls that hold every stream of the gateway's usual connections to it do not make later
// calls wait, unsent, behind them — the gateway opens more connections to the endpoint while they are
// full — whether the call comes from a local app or from another cluster.
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import {
  echoClientConstructor,
  startGrpcUpstream,
  type EchoClient,
  type EchoReply,
  type SampleServer,
} from './helpers/sample-upstreams.js';

const STREAMS_PER_CONNECTION = 2;
/** More than the gateway's usual 4 connections to an endpoint can carry. */
const CHATS = 12;

/** A client of `cluster`'s outbound listener calling `service`, one connection each, kept in `clients`. */
function echoCaller(
  fabric: TestFabric,
  cluster: string,
  service: string,
  clients: grpc.Client[],
): EchoClient {
  const gateway = fabric.gateway(cluster);
  const Echo = echoClientConstructor();
  const made = new Echo(`${gateway.host}:${gateway.outboundPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': `${service}.default.svc.clusterset.local`,
  });
  clients.push(made);
  return made as unknown as EchoClient;
}

const unary = (c: EchoClient, text: string) =>
  new Promise<EchoReply>((resolve, reject) => {
    c.Unary({ text }, (err, reply) =>
      err || !reply ? reject(err ?? new Error('no reply')) : resolve(reply),
    );
  });

describe('an endpoint’s stream limit with long-lived calls', () => {
  let fabric: TestFabric;
  let endpoint: SampleServer;
  const clients: grpc.Client[] = [];

  before(async () => {
    endpoint = await startGrpcUpstream('127.0.1.97', 'narrow@a', {
      'grpc.max_concurrent_streams': STREAMS_PER_CONNECTION,
    });
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [{ name: 'narrow', protocol: 'grpc', endpoints: [endpoint.endpoint] }],
      },
      { cluster: 'b', host: '127.0.2.1' },
    ]);
  });

  after(async () => {
    for (const client of clients) client.close();
    await fabric?.close();
    await endpoint?.close();
  });

  test(`${CHATS} open chats, then unary calls from this cluster and from another one are answered`, async () => {
    const caller = echoCaller(fabric, 'a', 'narrow', clients);
    // The first call lets the gateway learn the endpoint's limit (its SETTINGS); until a connection knows
    // it, Node assumes 100, and the endpoint refuses the excess of a first burst (sent again: see below).
    await unary(caller, 'first');
    const chats = Array.from({ length: CHATS }, () => caller.Chat());
    const firsts = await Promise.all(
      chats.map((chat, i) => {
        chat.on('error', () => undefined);
        const reply = once(chat, 'data', { signal: AbortSignal.timeout(10_000) }) as Promise<[EchoReply]>;
        chat.write({ text: `chat ${i}` });
        return reply.then(([r]) => r.text);
      }),
    );
    assert.deepEqual(
      firsts,
      chats.map((_, i) => `chat ${i}`),
    );
    const local = await unary(caller, 'local');
    assert.equal(local.servedBy, 'narrow@a');
    const remote = await unary(echoCaller(fabric, 'b', 'narrow', clients), 'remote');
    assert.equal(remote.servedBy, 'narrow@a');
    const pool = fabric
      .gateway('a')
      .dataPlane.state()
      .upstreamPools.find((p) => p.endpoint === endpoint.endpoint);
    console.log(`pool to the endpoint while ${CHATS} chats are open: ${JSON.stringify(pool)}`);
    for (const chat of chats) chat.end();
    await Promise.all(chats.map((chat) => once(chat, 'end')));
  });
});

describe('a first burst beyond an endpoint’s stream limit', () => {
  let fabric: TestFabric;
  let endpoint: SampleServer;
  const clients: grpc.Client[] = [];

  before(async () => {
    endpoint = await startGrpcUpstream('127.0.1.98', 'cold@a', {
      'grpc.max_concurrent_streams': STREAMS_PER_CONNECTION,
    });
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [{ name: 'cold', protocol: 'grpc', endpoints: [endpoint.endpoint] }],
      },
    ]);
  });

  after(async () => {
    for (const client of clients) client.close();
    await fabric?.close();
    await endpoint?.close();
  });

  test('calls the endpoint refused unprocessed, before its SETTINGS arrived, are sent to it again', async () => {
    const gateway = fabric.gateway('a');
    const caller = echoCaller(fabric, 'a', 'cold', clients);
    const burst = 10;
    const results = await Promise.allSettled(
      Array.from({ length: burst }, (_, i) => unary(caller, `cold ${i}`)),
    );
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    assert.deepEqual(failed, [], `${failed.length} of ${burst} calls failed`);
    const pool = gateway.dataPlane.state().upstreamPools.find((p) => p.endpoint === endpoint.endpoint);
    console.log(`pool after a burst of ${burst} calls: ${JSON.stringify(pool)}`);
    // Refusals are the endpoint's load, not its failures: none is reported against it (more in a row
    // than consecutive local-origin failures eject would eject it).
    assert.deepEqual(
      gateway.outcomes.filter((o) => o.kind !== 'success'),
      [],
    );
  });
});
