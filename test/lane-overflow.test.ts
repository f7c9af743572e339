// Long-lived calls to another cluster (server-sent events, long polls, gRPC watches and chats) each hold a
// lane for as long as they last. When every lane to a peer is busy, a new request rides an HTTP/2 stream of
// its own instead of waiting for a lane that may never come back. The lane cap is set to 4 here; the
// default is 1024 per peer gateway.
import { once } from 'node:events';
import { request, type ClientRequest, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { endpointOn } from './helpers/near-far-fabric.js';
import { httpCall } from './helpers/http-call.js';
import {
  echoClientConstructor,
  eventStreamEndpoint,
  startGrpcUpstream,
  type EchoClient,
  type EchoReply,
  type SampleServer,
} from './helpers/sample-upstreams.js';

const LANES = 4;

/** The held event streams; the endpoint answers /watch with one event and keeps it open. */
const held: ServerResponse[] = [];
const feed = eventStreamEndpoint(held);

describe('lanes all busy with long-lived calls', () => {
  let fabric: TestFabric;
  let echo: SampleServer;
  let client: EchoClient;
  const watches: ClientRequest[] = [];

  before(async () => {
    const feedEndpoint = await endpointOn(feed, '127.0.2.30');
    echo = await startGrpcUpstream('127.0.2.31', 'echo@b');
    fabric = await TestFabric.start(
      [
        { cluster: 'a', host: '127.0.1.1' },
        {
          cluster: 'b',
          host: '127.0.2.1',
          services: [
            { name: 'feed', endpoints: [feedEndpoint] },
            { name: 'echo', protocol: 'grpc', endpoints: [echo.endpoint] },
          ],
        },
      ],
      { peerTransport: { maxLanesPerPeer: LANES } },
    );
    const Echo = echoClientConstructor();
    client = new Echo(`127.0.1.1:${fabric.gateway('a').outboundPort}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'echo',
    }) as unknown as EchoClient;
  });

  after(async () => {
    for (const watch of watches) watch.destroy();
    for (const res of held.splice(0)) res.end();
    client?.close();
    await fabric?.close();
    await echo?.close();
    feed.close();
  });

  const outbound = (path: string) => `http://127.0.1.1:${fabric.gateway('a').outboundPort}${path}`;

  /** Opens a server-sent event stream to `feed` through a and resolves once its first event arrived. */
  async function openWatch(): Promise<void> {
    const req = request(outbound('/watch'), { headers: { host: 'feed' }, agent: false });
    watches.push(req);
    req.end();
    const [res] = (await once(req, 'response')) as [NodeJS.ReadableStream & { statusCode?: number }];
    assert.equal(res.statusCode, 200);
    await once(res, 'data');
  }

  const lanesToB = () =>
    fabric
      .gateway('a')
      .dataPlane.state()
      .peers.find((p) => p.cluster === 'b')?.lanes;

  const unary = (text: string) =>
    new Promise<EchoReply>((resolve, reject) => {
      client.Unary({ text }, (err, reply) =>
        err || !reply ? reject(err ?? new Error('no reply')) : resolve(reply),
      );
    });

  test('with every lane held by an event stream, requests and gRPC calls still go through', async () => {
    for (let i = 0; i < LANES + 2; i++) await openWatch();
    assert.deepEqual(lanesToB(), { open: LANES, idle: 0, queued: 0 });

    const answer = await httpCall(outbound('/ping'), { headers: { host: 'feed' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'pong');

    assert.deepEqual(await unary('over a stream'), {
      text: 'over a stream',
      servedBy: 'echo@b',
      sourceCluster: 'a',
    });
    assert.equal(lanesToB()?.queued, 0);
  });

  test('long-lived gRPC chats beyond the lane count each get through, in order', async () => {
    const chats = Array.from({ length: LANES + 3 }, () => client.Chat());
    const firstReplies = await Promise.all(
      chats.map((chat, i) => {
        const reply = once(chat, 'data') as Promise<[EchoReply]>;
        chat.write({ text: `chat ${i}` });
        return reply.then(([r]) => r.text);
      }),
    );
    assert.deepEqual(
      firstReplies,
      chats.map((_, i) => `chat ${i}`),
    );
    assert.equal((await unary('while chatting')).text, 'while chatting');
    await Promise.all(
      chats.map(async (chat, i) => {
        const replies: string[] = [];
        chat.on('data', (r: EchoReply) => replies.push(r.text));
        chat.write({ text: `again ${i}` });
        chat.end();
        await once(chat, 'end');
        assert.deepEqual(replies, [`again ${i}`]);
      }),
    );
  });
});
