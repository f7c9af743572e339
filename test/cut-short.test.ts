// A stream cut short stays cut short. An upload its caller abandons never reaches the service as complete
// (its last chunk, or a clean END_STREAM, would have the service act on a truncated body), and an answer
// its upstream drops mid-body never reaches the caller as complete, over HTTP/1.1 or HTTP/2, in the
// caller's own cluster or across the peer hop. (Node's stream.close(code) ends the writable side with
// END_STREAM before it sends RST_STREAM: to the far end that reads as a whole message.) Also: a 204 that
// declares a length, which a lenient caller would wait on, reaches the caller without it.
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { rawExchange } from './helpers/raw-exchange.js';
import { ShapedUpstream } from './helpers/shaped-upstream.js';
import { waitFor } from './helpers/wait.js';

/** An HTTP/2 upstream that records, per request stream, whether its body ended cleanly or was reset. */
class H2Recorder {
  readonly streams: { ended: boolean; aborted: boolean; bytes: number }[] = [];
  readonly server = http2.createServer();

  async start(host: string): Promise<string> {
    this.server.on('stream', (stream) => {
      const seen = { ended: false, aborted: false, bytes: 0 };
      this.streams.push(seen);
      stream.on('error', () => undefined);
      stream.on('data', (chunk: Buffer) => (seen.bytes += chunk.length));
      stream.on('end', () => (seen.ended ||= !seen.aborted));
      stream.on('aborted', () => (seen.aborted = true));
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      stream.write('started');
    });
    this.server.listen(0, host);
    await once(this.server, 'listening');
    return `${host}:${(this.server.address() as AddressInfo).port}`;
  }
}

describe('streams cut short', () => {
  let fabric: TestFabric;
  let remote: ShapedUpstream;
  let local: ShapedUpstream;
  const h2 = new H2Recorder();

  before(async () => {
    remote = await ShapedUpstream.start('127.0.2.32');
    local = await ShapedUpstream.start('127.0.1.32');
    const h2Endpoint = await h2.start('127.0.1.33');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [
          { name: 'shaped-here', endpoints: [local.endpoint] },
          { name: 'h2-here', protocol: 'grpc', endpoints: [h2Endpoint] },
        ],
      },
      { cluster: 'b', host: '127.0.2.1', services: [{ name: 'shaped', endpoints: [remote.endpoint] }] },
    ]);
  });

  after(async () => {
    await fabric?.close();
    remote?.close();
    local?.close();
    h2.server.close();
  });

  test('an upload its caller abandons does not reach a service in another cluster as complete', async () => {
    const a = fabric.gateway('a');
    const caller = connect(a.outboundPort, a.host);
    caller.on('error', () => undefined);
    caller.write('POST /upload HTTP/1.1\r\nhost: shaped\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
    await waitFor('the upload to reach the upstream in b', () => remote.uploadsBegun === 1, 10_000);
    caller.destroy();
    await waitFor('the upstream connection to close', () => remote.open === 0, 10_000);
    assert.equal(remote.uploadsCompleted, 0, 'the upstream saw the abandoned upload end as if whole');
  });

  test('an upload its HTTP/2 caller resets is reset at an HTTP/2 service, not ended', async () => {
    const a = fabric.gateway('a');
    const session = http2.connect(`http://${a.host}:${a.outboundPort}`);
    session.on('error', () => undefined);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'h2-here' });
      stream.on('error', () => undefined);
      stream.write(Buffer.alloc(1000));
      await once(stream, 'response');
      await waitFor('the upload to reach the upstream', () => h2.streams[0]?.bytes === 1000, 10_000);
      // RST_STREAM alone (Node's close() would send END_STREAM first: a whole body, then a cancel).
      stream.destroy(new Error('the caller gives up'));
      await waitFor('the upstream stream to be reset', () => h2.streams[0]?.aborted === true, 10_000);
      assert.equal(h2.streams[0]?.ended, false, 'the upstream saw the reset upload end as if whole');
    } finally {
      session.destroy();
    }
  });

  test('an answer dropped mid-body reaches an HTTP/2 caller as a reset, not as a whole answer', async () => {
    const a = fabric.gateway('a');
    const session = http2.connect(`http://${a.host}:${a.outboundPort}`);
    session.on('error', () => undefined);
    try {
      const stream = session.request({ ':path': '/die', ':authority': 'shaped-here' });
      let body = '';
      let ended = false;
      stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
      stream.on('end', () => (ended = true));
      stream.on('error', () => undefined);
      await new Promise((resolve) => stream.once('close', resolve));
      console.log(`h2c caller: "${body}", end ${ended}, code ${stream.rstCode}`);
      assert.equal(body, 'hello');
      assert.notEqual(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      assert.equal(ended, false, 'the cut answer ended as if whole');
    } finally {
      session.destroy();
    }
  });

  test('a 204 that declares a length reaches the caller without one (RFC 9110 §8.6)', async () => {
    const a = fabric.gateway('a');
    const { got } = await rawExchange(
      a.outboundPort,
      a.host,
      'GET /no-content HTTP/1.1\r\nhost: shaped-here\r\nconnection: close\r\n\r\n',
    );
    assert.match(got, /^HTTP\/1\.1 204 /);
    assert.doesNotMatch(got, /content-length/i, got);
  });

  // A GET takes the fast path, a POST Node's HTTP/1 server (H1ResponseSink).
  for (const [where, service, request] of [
    ['its own cluster', 'shaped-here', 'GET /die HTTP/1.0\r\n'],
    ['another cluster', 'shaped', 'GET /die HTTP/1.0\r\n'],
    ['its own cluster, a POST', 'shaped-here', 'POST /die HTTP/1.0\r\ncontent-length: 2\r\n'],
  ] as const) {
    test(`an answer dropped mid-body in ${where} reaches an HTTP/1.0 caller as a reset, not a close that would end it`, async () => {
      const a = fabric.gateway('a');
      const { got, reset } = await rawExchange(
        a.outboundPort,
        a.host,
        `${request}host: ${service}\r\n\r\nhi`,
      );
      console.log(`HTTP/1.0 caller got ${JSON.stringify(got)}, reset ${reset}`);
      assert.ok(got.includes('hello'));
      assert.ok(
        reset,
        'the connection closed cleanly: an HTTP/1.0 caller takes that for the end of the answer',
      );
    });
  }

  for (const te of ['', 'te: trailers\r\n']) {
    test(`an answer dropped mid-body in another cluster reaches an HTTP/1.1 caller cut, not whole${te ? ' (te: trailers)' : ''}`, async () => {
      const a = fabric.gateway('a');
      // A request with a body crosses as an HTTP/2 stream of its own (not a lane); with te: trailers the
      // answer there waits for trailers, which a cut must not fake.
      const { got } = await rawExchange(
        a.outboundPort,
        a.host,
        `POST /die HTTP/1.1\r\nhost: shaped\r\n${te}content-length: 2\r\nconnection: close\r\n\r\nhi`,
      );
      console.log(`HTTP/1.1 caller got ${JSON.stringify(got.slice(got.indexOf('\r\n\r\n') + 4))}`);
      assert.match(got, /^HTTP\/1\.1 200/);
      assert.ok(got.includes('hello'));
      const body = got.slice(got.indexOf('\r\n\r\n') + 4);
      assert.ok(!body.includes('\r\n0\r\n'), 'the cut answer was closed with a last chunk, as if whole');
    });
  }
});
