// What a gRPC caller reads when the call fails through the mesh must be what it would read calling the
// service directly. An endpoint's HTTP/2 reset maps to the status gRPC gives that reset code (INTERNAL,
// RESOURCE_EXHAUSTED, CANCELLED …, not UNAVAILABLE, which clients retry: a non-idempotent call would run
// again). A gRPC call's deadline is its own (grpc-timeout), counted from its start: the gateway's request
// timeout, made for requests that end before their answer, does not cut a call the client still waits
// for, and a deadline that passes is DEADLINE_EXCEEDED. A head carrying a status ahead of a body is not
// taken for a trailers-only answer on the way.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  connect,
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { endpointOn, startNearAndFar } from './helpers/near-far-fabric.js';

/** A gRPC message frame: not compressed, length, bytes. */
function grpcMessage(text: string): Buffer {
  const bytes = Buffer.from(text);
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  bytes.copy(frame, 5);
  return frame;
}

/** An endpoint whose methods fail the ways a gRPC server or its HTTP/2 stack can. */
async function startMisbehavingEndpoint(host: string): Promise<{ server: Http2Server; endpoint: string }> {
  const server = createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    stream.resume();
    const method = String(headers[':path']).split('/').pop();
    if (method === 'ResetInternal') stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    else if (method === 'ResetCalm') stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    else if (method === 'NoStatus') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.end(grpcMessage('no status follows'));
    } else if (method === 'TrailersOnly') {
      // At once, the request body unread.
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'nope' },
        { endStream: true },
      );
    } else if (method === 'StatusInHead') {
      // Not as gRPC says (a status belongs in a head only when nothing follows), but clients read the
      // trailers' status: the message and the trailers must arrive.
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
        { waitForTrailers: true },
      );
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '13', 'grpc-message': 'real' }));
      stream.end(grpcMessage('a message'));
    } else if (method === 'AfterUpload') {
      // Answers once the client stream ends.
      stream.once('end', () => {
        if (stream.closed) return;
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
          { endStream: true },
        );
      });
    } else if (method === 'Slow') {
      const timer = setTimeout(() => {
        if (stream.closed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcMessage('late but wanted'));
      }, 1_500);
      stream.once('close', () => clearTimeout(timer));
    }
  });
  return { server, endpoint: await endpointOn(server, host) };
}

describe('gRPC: statuses of failed calls and deadlines', () => {
  let fabric: TestFabric;
  let near: Awaited<ReturnType<typeof startMisbehavingEndpoint>>;
  let far: Awaited<ReturnType<typeof startMisbehavingEndpoint>>;

  before(async () => {
    near = await startMisbehavingEndpoint('127.0.1.70');
    far = await startMisbehavingEndpoint('127.0.2.70');
    fabric = await startNearAndFar(near.endpoint, far.endpoint, {
      protocol: 'grpc',
      failover: { timeouts: { request: '1s' } },
    });
  });

  after(async () => {
    await fabric?.close();
    near?.server.close();
    far?.server.close();
  });

  /** Calls `method` through gateway a; the gRPC status the caller reads, and after how long. */
  async function call(
    service: string,
    method: string,
    extra: OutgoingHttpHeaders = {},
    body = grpcMessage('hello'),
  ) {
    const session = connect(`http://127.0.1.1:${fabric.gateway('a').outboundPort}`);
    session.on('error', () => undefined);
    const started = performance.now();
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': `/weft.test.Probe/${method}`,
        ':authority': service,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...extra,
      });
      stream.end(body);
      let headStatus: string | undefined;
      let headEnded = false;
      let trailerStatus: string | undefined;
      let bytes = 0;
      stream.on('response', (headers, flags) => {
        headStatus = headers['grpc-status'] as string | undefined;
        headEnded = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      });
      stream.on(
        'trailers',
        (trailers: IncomingHttpHeaders) => (trailerStatus = trailers['grpc-status'] as string | undefined),
      );
      stream.on('error', () => undefined);
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      await once(stream, 'close');
      const status = trailerStatus ?? headStatus ?? `reset ${stream.rstCode}`;
      return { status, bytes, headEnded, ms: performance.now() - started };
    } finally {
      session.close();
    }
  }

  for (const service of ['near', 'far']) {
    test(
      `an endpoint's resets map as gRPC maps them (${service === 'near' ? 'local' : 'across clusters'})`,
      { timeout: 20_000 },
      async () => {
        assert.equal((await call(service, 'ResetInternal')).status, '13', 'INTERNAL_ERROR is INTERNAL');
        assert.equal(
          (await call(service, 'ResetCalm')).status,
          '8',
          'ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED',
        );
        assert.equal(
          (await call(service, 'NoStatus')).status,
          '13',
          'an answer without grpc-status is INTERNAL',
        );
        const trailersOnly = await call(service, 'TrailersOnly');
        assert.deepEqual([trailersOnly.status, trailersOnly.headEnded], ['5', true]);
        // On a lane Node's parser reads (more fields than the fast path takes), trailers-only stays so.
        const fields: OutgoingHttpHeaders = {};
        for (let i = 0; i < 110; i++) fields[`x-meta-${i}`] = `value ${i}`;
        const handedOver = await call(service, 'TrailersOnly', fields);
        assert.deepEqual([handedOver.status, handedOver.headEnded], ['5', true]);
        // Answered before its 4 MB body was read: the caller can still finish sending it.
        const early = await call(service, 'TrailersOnly', {}, Buffer.alloc(4 * 1024 * 1024));
        assert.equal(early.status, '5');
        const both = await call(service, 'StatusInHead');
        assert.deepEqual([both.status, both.bytes], ['13', grpcMessage('a message').length]);
      },
    );

    test(`the request timeout does not cut a gRPC call; its grpc-timeout does (${service === 'near' ? 'local' : 'across clusters'})`, async () => {
      const waited = await call(service, 'Slow');
      assert.equal(waited.status, '0', 'answered after 1.5 s, past the 1 s request timeout');
      const hurried = await call(service, 'Slow', { 'grpc-timeout': '300m' });
      console.log(`grpc-timeout 300m answered ${hurried.status} after ${hurried.ms.toFixed(0)} ms`);
      assert.equal(hurried.status, '4', 'DEADLINE_EXCEEDED');
      // The caller's hurry is no failure of the service: nothing reported against it.
      for (const cluster of ['a', 'b'])
        assert.deepEqual(
          fabric.gateway(cluster).outcomes.filter((o) => o.code === 'DEADLINE_EXCEEDED'),
          [],
          cluster,
        );
      assert.ok(hurried.ms >= 290 && hurried.ms < 1_400, `after ${hurried.ms} ms`);
      // 30 days, as clients write "no deadline": past what a timer holds, so none (not one firing at once).
      assert.equal((await call(service, 'Slow', { 'grpc-timeout': '2592000S' })).status, '0');
    });
  }
});

describe('gRPC: the per-try timeout counts from the end of the client stream', () => {
  let fabric: TestFabric;
  let endpoint: Awaited<ReturnType<typeof startMisbehavingEndpoint>>;

  before(async () => {
    endpoint = await startMisbehavingEndpoint('127.0.1.71');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [{ name: 'upload', protocol: 'grpc', endpoints: [endpoint.endpoint] }],
        failover: { timeouts: { request: '1s', perTry: '500ms' } },
      },
    ]);
  });

  after(async () => {
    await fabric?.close();
    endpoint?.server.close();
  });

  test('a client stream longer than the per-try timeout is answered', async () => {
    const session = connect(`http://127.0.1.1:${fabric.gateway('a').outboundPort}`);
    session.on('error', () => undefined);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/weft.test.Probe/AfterUpload',
        ':authority': 'upload',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let status: string | undefined;
      stream.on('response', (headers) => (status = headers['grpc-status'] as string | undefined));
      stream.on('error', () => undefined);
      stream.resume();
      // Three messages over 1.2 s: the upload alone outlasts the 500 ms per-try timeout.
      for (let i = 0; i < 3; i++) {
        stream.write(grpcMessage(`part ${i}`));
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      stream.end();
      await once(stream, 'close');
      assert.equal(status, '0');
    } finally {
      session.close();
    }
  });
});
