// The stream idle timeout: once an answer has begun, it may last as long as it moves, and one that moves
// no byte either way for the service's `timeouts.idle` is cut, its upstream connection closed. Cluster a
// calls with `failover: { timeouts: { idle: 1s } }`; the answers come from a raw upstream that stalls
// mid-body, trickles, or floods, in b (over a lane) and in a itself, and from a gRPC chat left quiet.
// A service a only calls can have its own idle timeout (`calls:`): 0s keeps a quiet chat open.
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { echoClientConstructor, startGrpcUpstream, type SampleServer } from './helpers/sample-upstreams.js';
import { ShapedUpstream } from './helpers/shaped-upstream.js';
import { waitFor } from './helpers/wait.js';

const IDLE_MS = 1_000;

interface RawAnswer {
  readonly head: string;
  readonly body: string;
  readonly bodyBytes: number;
  /** From the first byte of the answer to the end of the connection. */
  readonly quietToEndMs: number;
  readonly endedCleanly: boolean;
}

/** GETs `path` from `host` through a's outbound listener on a connection of its own, until the connection ends. */
function rawGet(fabric: TestFabric, host: string, path: string): Promise<RawAnswer> {
  const a = fabric.gateway('a');
  const socket = connect(a.outboundPort, a.host);
  socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let firstByteAt = 0;
    socket.on('data', (chunk: Buffer) => {
      firstByteAt ||= performance.now();
      received = Buffer.concat([received, chunk]);
    });
    let clean = true;
    socket.on('error', () => (clean = false));
    socket.on('close', () => {
      const text = received.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      resolve({
        head: split < 0 ? text : text.slice(0, split),
        body: split < 0 ? '' : text.slice(split + 4),
        bodyBytes: split < 0 ? 0 : received.length - split - 4,
        quietToEndMs: performance.now() - firstByteAt,
        endedCleanly: clean,
      });
    });
  });
}

describe('stream idle timeout', () => {
  let fabric: TestFabric;
  let remote: ShapedUpstream;
  let local: ShapedUpstream;
  let echo: SampleServer;
  const clients: grpc.Client[] = [];

  before(async () => {
    remote = await ShapedUpstream.start('127.0.2.30');
    local = await ShapedUpstream.start('127.0.1.30');
    echo = await startGrpcUpstream('127.0.2.31', 'echo@b');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        failover: { timeouts: { idle: `${IDLE_MS}ms` } },
        calls: [{ service: 'watch.default', timeouts: { idle: '0s' } }],
        observability: { accessLogSampleRate: 1 },
        services: [{ name: 'shaped-here', endpoints: [local.endpoint] }],
      },
      {
        cluster: 'b',
        host: '127.0.2.1',
        services: [
          { name: 'shaped', endpoints: [remote.endpoint] },
          { name: 'echo', protocol: 'grpc', endpoints: [echo.endpoint] },
          { name: 'watch', protocol: 'grpc', endpoints: [echo.endpoint] },
        ],
      },
    ]);
  });

  after(async () => {
    for (const client of clients) client.close();
    await fabric?.close();
    remote?.close();
    local?.close();
    await echo?.close();
  });

  const loggedErrors = (service: string) =>
    fabric
      .gateway('a')
      .accessLog.filter((line) => line.service === service)
      .map((line) => line.error);

  for (const [where, service, upstream] of [
    ['in another cluster', 'shaped', () => remote],
    ['in its own cluster', 'shaped-here', () => local],
  ] as const) {
    test(`an answer that stalls mid-body ${where} is cut after the idle timeout`, async () => {
      const answer = await rawGet(fabric, service, '/stall');
      console.log(
        `${where}: 200 and ${answer.bodyBytes} of 100000 bytes, then cut ${answer.quietToEndMs.toFixed(0)} ms later (idle ${IDLE_MS} ms)`,
      );
      assert.match(answer.head, /^HTTP\/1\.1 200/);
      assert.equal(answer.bodyBytes, 1000);
      assert.ok(answer.quietToEndMs >= IDLE_MS - 50, `cut after ${answer.quietToEndMs} ms`);
      assert.ok(answer.quietToEndMs < IDLE_MS + 4_000, `cut after ${answer.quietToEndMs} ms`);
      await waitFor(`the upstream connection ${where} to close`, () => upstream().open === 0, 5_000);
      await waitFor(
        'the access log line',
        () => loggedErrors(`${service}.default`).includes('STREAM_IDLE'),
        5_000,
      );
      const outcomes = fabric.gateway('a').outcomes.filter((o) => o.service === `${service}.default`);
      assert.ok(
        outcomes.every((o) => o.kind === 'success'),
        `the stall is not held against the upstream: ${JSON.stringify(outcomes)}`,
      );
    });
  }

  test('an HTTP/2 caller sees its stalled answer end in a reset stream', async () => {
    const { host, outboundPort } = fabric.gateway('a');
    const session = http2.connect(`http://${host}:${outboundPort}`);
    session.on('error', () => undefined);
    try {
      const stream = session.request({ ':path': '/stall', ':authority': 'shaped' });
      stream.on('error', () => undefined);
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(headers[':status'], 200);
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      const started = performance.now();
      await new Promise((resolve) => stream.once('close', resolve));
      const quietMs = performance.now() - started;
      console.log(
        `h2c: ${bytes} bytes, then closed with code ${stream.rstCode} after ${quietMs.toFixed(0)} ms`,
      );
      assert.equal(bytes, 1000);
      assert.notEqual(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'the answer does not end cleanly');
      assert.ok(quietMs < IDLE_MS + 4_000, `${quietMs} ms`);
    } finally {
      session.destroy();
    }
  });

  test('an answer that keeps moving outlives the idle timeout', async () => {
    const answer = await rawGet(fabric, 'shaped', '/moving');
    console.log(`a chunk every 300 ms for ${answer.quietToEndMs.toFixed(0)} ms, idle ${IDLE_MS} ms`);
    assert.ok(answer.quietToEndMs > 2 * IDLE_MS, `${answer.quietToEndMs} ms`);
    assert.ok(answer.head.includes('transfer-encoding: chunked'));
    assert.ok(answer.endedCleanly);
    assert.equal(answer.body.split('0123456789').length - 1, 10);
    assert.ok(answer.body.endsWith('0\r\n\r\n'), 'the chunked body ends with its last chunk');
  });

  test('a caller that stops reading frees the upstream after the idle timeout', async () => {
    const a = fabric.gateway('a');
    const socket = connect(a.outboundPort, a.host);
    socket.on('error', () => undefined);
    const before = remote.sockets.length;
    socket.write('GET /flood HTTP/1.1\r\nhost: shaped\r\n\r\n');
    await once(socket, 'data');
    socket.pause();
    const stalledAt = performance.now();
    assert.equal(remote.sockets.length, before + 1);
    await waitFor('the flooding upstream connection to close', () => remote.open === 0, 15_000);
    const freedMs = performance.now() - stalledAt;
    console.log(
      `a caller that reads nothing: the upstream connection freed ${freedMs.toFixed(0)} ms after it stopped`,
    );
    assert.ok(freedMs >= IDLE_MS - 50, `${freedMs} ms`);
    socket.destroy();
  });

  type ChatClient = grpc.Client & {
    Chat(): grpc.ClientDuplexStream<{ text: string }, { text: string }>;
  };

  /** A chat with `authority` through a's outbound listener, one message answered. */
  async function openChat(
    authority: string,
  ): Promise<grpc.ClientDuplexStream<{ text: string }, { text: string }>> {
    const Echo = echoClientConstructor();
    const { host, outboundPort } = fabric.gateway('a');
    const client = new Echo(`${host}:${outboundPort}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': authority,
    }) as ChatClient;
    clients.push(client);
    const chat = client.Chat();
    chat.write({ text: 'hello' });
    const [reply] = (await once(chat, 'data')) as [{ text: string }];
    assert.equal(reply.text, 'hello');
    return chat;
  }

  test('a quiet gRPC call ends UNAVAILABLE, naming the idle timeout', async () => {
    const chat = await openChat('echo');
    const quietFrom = performance.now();
    const [err] = (await once(chat, 'error')) as [grpc.ServiceError];
    const quietMs = performance.now() - quietFrom;
    console.log(`quiet chat: ${grpc.status[err.code]} after ${quietMs.toFixed(0)} ms: ${err.details}`);
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /idle timeout/);
    assert.ok(quietMs >= IDLE_MS - 50 && quietMs < IDLE_MS + 4_000, `${quietMs} ms`);
  });

  test('a service a only calls, given idle 0s in calls:, keeps a quiet chat open', async () => {
    const chat = await openChat('watch');
    let failed: Error | undefined;
    chat.on('error', (err: Error) => (failed = err));
    // Nothing is to happen: what is waited for is time, three idle timeouts of it.
    await sleep(3 * IDLE_MS);
    assert.equal(failed, undefined);
    chat.write({ text: 'still here' });
    const [reply] = (await once(chat, 'data')) as [{ text: string }];
    assert.equal(reply.text, 'still here');
    chat.end();
  });
});
