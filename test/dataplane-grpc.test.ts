// gRPC through the data plane with @grpc/grpc-js on both ends: unary and bidirectional streaming from
// cluster a to a service only b runs, statuses, messages and trailers preserved end to end, local
// gRPC served over h2c, clear gRPC statuses for unknown and forbidden services, and UNAVAILABLE (not a
// hang) when the serving endpoint dies mid-call.
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
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

describe('data plane: gRPC', () => {
  let fabric: TestFabric;
  let echoB: SampleServer;
  let echoA: SampleServer;
  let fragileB: SampleServer;
  let sizedB: http2.Http2Server;
  const clients: grpc.Client[] = [];

  before(async () => {
    echoB = await startGrpcUpstream('127.0.2.20', 'echo@b');
    echoA = await startGrpcUpstream('127.0.1.20', 'local@a');
    fragileB = await startGrpcUpstream('127.0.2.21', 'fragile@b');
    sizedB = await startSizedGrpcReply('127.0.2.22');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [{ name: 'local', protocol: 'grpc', endpoints: [echoA.endpoint] }],
      },
      {
        cluster: 'b',
        host: '127.0.2.1',
        services: [
          { name: 'echo', protocol: 'grpc', endpoints: [echoB.endpoint] },
          { name: 'secret', protocol: 'grpc', endpoints: [echoB.endpoint], allow: ['c'] },
          { name: 'fragile', protocol: 'grpc', endpoints: [fragileB.endpoint] },
          {
            name: 'sized',
            protocol: 'grpc',
            endpoints: [`127.0.2.22:${(sizedB.address() as AddressInfo).port}`],
          },
        ],
      },
    ]);
  });

  after(async () => {
    for (const client of clients) client.close();
    await fabric?.close();
    await echoB?.close();
    await echoA?.close();
    await fragileB?.close();
    sizedB?.close();
  });

  /** A client of a's outbound listener that calls `authority` (what an app resolving the name would send). */
  const client = (authority: string): EchoClient => {
    const Echo = echoClientConstructor();
    const made = new Echo(
      `127.0.1.1:${fabric.gateway('a').outboundPort}`,
      grpc.credentials.createInsecure(),
      {
        'grpc.default_authority': authority,
      },
    ) as unknown as EchoClient;
    clients.push(made);
    return made;
  };

  const unary = (c: EchoClient, text: string) =>
    new Promise<{ reply: EchoReply; trailers: grpc.Metadata }>((resolve, reject) => {
      let trailers = new grpc.Metadata();
      const call = c.Unary({ text }, new grpc.Metadata(), (err, reply) => {
        if (err || !reply) reject(err ?? new Error('no reply'));
        else setImmediate(() => resolve({ reply, trailers }));
      });
      call.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
    });

  test('unary call from a to a service only b runs; trailers and weft-source-cluster arrive', async () => {
    const { reply, trailers } = await unary(client('echo.default.svc.clusterset.local'), 'hi');
    assert.deepEqual(reply, { text: 'hi', servedBy: 'echo@b', sourceCluster: 'a' });
    assert.deepEqual(trailers.get('x-served-by'), ['echo@b']);
  });

  test('bidirectional streaming: every message answered, in order', async () => {
    const call = client('echo').Chat();
    const replies: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (reply: EchoReply) => replies.push(`${reply.text}/${reply.servedBy}`));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (let i = 0; i < 50; i++) call.write({ text: `m${i}` });
    call.end();
    await done;
    assert.deepEqual(
      replies,
      Array.from({ length: 50 }, (_, i) => `m${i}/echo@b`),
    );
  });

  test('an error status, its message and its metadata come back unchanged', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client('echo').Fail({ text: 'x' }, (e) => resolve(e as grpc.ServiceError)),
    );
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.details, 'refused by echo@b');
    assert.deepEqual(err.metadata.get('x-failure-detail'), ['on purpose']);
  });

  test('local gRPC is served over h2c in the same cluster', async () => {
    const { reply } = await unary(client('local'), 'near');
    assert.deepEqual(reply, { text: 'near', servedBy: 'local@a', sourceCluster: 'a' });
  });

  test('unknown service: NOT_FOUND naming it; forbidden: PERMISSION_DENIED naming the allow list', async () => {
    const unknown = await unary(client('nosuch.default'), 'x').then(
      () => assert.fail('expected an error'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(unknown.code, grpc.status.NOT_FOUND);
    assert.match(unknown.details, /nosuch\.default/);
    const forbidden = await unary(client('secret'), 'x').then(
      () => assert.fail('expected an error'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(forbidden.code, grpc.status.PERMISSION_DENIED);
    assert.match(forbidden.details, /cluster a is not allowed to call service secret\.default/);
  });

  test('a call with more metadata than the lane fast path reads is read by Node’s parser on b', async () => {
    const metadata = new grpc.Metadata();
    for (let i = 0; i < 110; i++) metadata.set(`x-meta-${i}`, `value ${i}`);
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      client('echo').Unary({ text: 'heavy' }, metadata, (err, answer) =>
        err || !answer ? reject(err ?? new Error('no reply')) : resolve(answer),
      );
    });
    assert.deepEqual(reply, { text: 'heavy', servedBy: 'echo@b', sourceCluster: 'a' });
  });

  test('many concurrent unary calls share one peer connection', async () => {
    const c = client('echo');
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(c, `n${i}`)));
    assert.equal(replies.length, 100);
    assert.ok(replies.every(({ reply }, i) => reply.text === `n${i}` && reply.servedBy === 'echo@b'));
    const peer = fabric
      .gateway('a')
      .dataPlane.state()
      .peers.find((p) => p.cluster === 'b');
    assert.equal(peer?.connections, 1);
  });

  test('an endpoint that dies mid-call ends the call as it would directly; the next call to b still works', async () => {
    const call = client('fragile').Chat();
    const ended = new Promise<grpc.ServiceError>((resolve) => {
      call.on('error', resolve);
      call.on('end', () => resolve(new Error('ended without an error') as grpc.ServiceError));
    });
    const first = await new Promise<EchoReply>((resolve) => {
      call.once('data', resolve);
      call.write({ text: 'before' });
    });
    assert.equal(first.servedBy, 'fragile@b');
    await fragileB.close();
    const err = await ended;
    // grpc-js's forceShutdown resets the call (RST_STREAM CANCEL) as it drops the connection: a client
    // calling it directly reads CANCELLED; b reads the reset (CANCELLED) or, when the connection's end
    // is handled first, the lost connection (UNAVAILABLE).
    assert.ok([grpc.status.CANCELLED, grpc.status.UNAVAILABLE].includes(err.code), err.message);
    // b's own words: b ended the call with trailers and kept the lane, rather than dropping it.
    assert.ok(err.details.includes(`endpoint ${fragileB.endpoint}`), err.details);
    const { reply } = await unary(client('echo'), 'after');
    assert.equal(reply.servedBy, 'echo@b');
  });

  test('a reply framed by Content-Length keeps its grpc-status trailers across clusters', async () => {
    const session = http2.connect(`http://127.0.1.1:${fabric.gateway('a').outboundPort}`);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/bench.Bench/Call',
        ':authority': 'sized.default',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.end(SIZED_MESSAGE);
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      const chunks: Buffer[] = [];
      let trailers: http2.IncomingHttpHeaders = {};
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('trailers', (received: http2.IncomingHttpHeaders) => (trailers = received));
      await once(stream, 'end');
      assert.equal(headers[':status'], 200);
      assert.deepEqual(Buffer.concat(chunks), SIZED_MESSAGE);
      assert.equal(trailers['grpc-status'], '0');
      assert.equal(trailers['x-sized'], 'yes');
    } finally {
      session.close();
    }
  });
});

/** One gRPC message (5-byte prefix, then the payload). */
const SIZED_MESSAGE = Buffer.concat([Buffer.from([0, 0, 0, 0, 4]), Buffer.from('pong')]);

/** Answers every call the way nginx serves a static gRPC reply: Content-Length, body, then trailers. */
async function startSizedGrpcReply(host: string): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.resume();
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'content-length': SIZED_MESSAGE.length },
      { waitForTrailers: true },
    );
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-sized': 'yes' }));
    stream.end(SIZED_MESSAGE);
  });
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}
