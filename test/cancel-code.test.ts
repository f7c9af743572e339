// A call the caller cancels reaches the gRPC endpoint as RST_STREAM CANCEL, locally and across clusters,
// as it would calling the endpoint directly (gRPC's PROTOCOL-HTTP2.md: a cancelled call is CANCEL), so the
// endpoint reports CANCELLED rather than an INTERNAL error of its own.
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestFabric } from './helpers/dataplane-fabric.js';
import { endpointOn, startNearAndFar } from './helpers/near-far-fabric.js';
import { waitFor } from './helpers/wait.js';

/** Answers each call's head and waits; records the reset code of each stream the gateway closes. */
function stallingGrpcEndpoint(resets: number[]): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.on('close', () => resets.push(stream.rstCode));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  });
  return server;
}

describe('cancelled gRPC calls reach the endpoint as CANCEL', () => {
  const resets = { near: [] as number[], far: [] as number[] };
  const servers = [stallingGrpcEndpoint(resets.near), stallingGrpcEndpoint(resets.far)];
  let fabric: TestFabric;

  before(async () => {
    const near = await endpointOn(servers[0] as http2.Http2Server, '127.0.1.90');
    const far = await endpointOn(servers[1] as http2.Http2Server, '127.0.2.90');
    fabric = await startNearAndFar(near, far, { protocol: 'grpc' });
  });

  after(async () => {
    await fabric?.close();
    for (const server of servers) server.close();
  });

  for (const service of ['near', 'far'] as const) {
    test(`the caller cancels after the answer's head (${service === 'near' ? 'locally' : 'across clusters'})`, async () => {
      const session = http2.connect(`http://127.0.1.1:${fabric.gateway('a').outboundPort}`);
      try {
        const call = session.request({
          ':method': 'POST',
          ':path': '/weft.test.Echo/Watch',
          ':authority': service,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        call.on('error', () => undefined);
        call.write(Buffer.from([0, 0, 0, 0, 0]));
        await once(call, 'response');
        call.close(http2.constants.NGHTTP2_CANCEL);
        await waitFor(`the ${service} endpoint's stream to close`, () => resets[service].length > 0, 5_000);
        console.log(`${service}: the endpoint's stream closed with code ${resets[service][0]}`);
        assert.deepEqual(resets[service], [http2.constants.NGHTTP2_CANCEL]);
      } finally {
        session.destroy();
      }
    });
  }
});
