// Before any load: one HTTP/1.1 call and one gRPC-shaped h2c call through a variant, checked for the
// upstream's exact answer, so a chain that answers errors stops the run with a clear message instead
// of producing fast-looking numbers.
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect as connectH2, constants } from 'node:http2';
import { BODY_BYTES } from './upstream.js';
import type { HttpTarget } from './tools.js';

function httpCall(target: HttpTarget): Promise<{ status: number; bytes: number }> {
  return new Promise((resolveCall, reject) => {
    const req = request(target.url, {
      headers: target.authority ? { host: target.authority } : {},
      agent: false,
      timeout: 5_000,
    });
    req.once('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.once('error', reject);
    req.once('response', (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.once('end', () => resolveCall({ status: res.statusCode ?? 0, bytes }));
      res.once('error', reject);
    });
    req.end();
  });
}

function grpcCall(
  target: HttpTarget,
  body: Buffer,
): Promise<{ status: number; bytes: number; grpcStatus: string }> {
  return new Promise((resolveCall, reject) => {
    const url = new URL(target.url);
    const session = connectH2(url.origin);
    session.once('error', reject);
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: url.pathname,
      [constants.HTTP2_HEADER_AUTHORITY]: target.authority ?? url.host,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.setTimeout(5_000, () => stream.close(constants.NGHTTP2_CANCEL));
    let status = 0;
    let bytes = 0;
    let grpcStatus = '(none)';
    stream.once('response', (headers) => (status = Number(headers[':status'])));
    stream.once(
      'trailers',
      (trailers: IncomingHttpHeaders) => (grpcStatus = String(trailers['grpc-status'])),
    );
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stream.once('error', reject);
    stream.once('close', () => {
      session.close();
      resolveCall({ status, bytes, grpcStatus });
    });
    stream.end(body);
  });
}

/** Throws, naming the variant and what came back, unless both calls get the upstream's answer. */
export async function probeChain(
  variant: string,
  http: HttpTarget,
  grpc: HttpTarget,
  grpcBody: Buffer,
): Promise<void> {
  const plain = await httpCall(http).catch((err: Error) => {
    throw new Error(
      `${variant}: HTTP/1.1 call to ${http.url} (Host ${http.authority}) failed: ${err.message}`,
    );
  });
  if (plain.status !== 200 || plain.bytes !== BODY_BYTES) {
    throw new Error(
      `${variant}: HTTP/1.1 call to ${http.url} (Host ${http.authority}) answered ${plain.status} with ${plain.bytes} bytes; expected 200 with ${BODY_BYTES}`,
    );
  }
  const rpc = await grpcCall(grpc, grpcBody).catch((err: Error) => {
    throw new Error(
      `${variant}: h2c call to ${grpc.url} (:authority ${grpc.authority}) failed: ${err.message}`,
    );
  });
  if (rpc.status !== 200 || rpc.bytes !== BODY_BYTES + 5 || rpc.grpcStatus !== '0') {
    throw new Error(
      `${variant}: h2c call to ${grpc.url} (:authority ${grpc.authority}) answered ${rpc.status} with ${rpc.bytes} bytes, grpc-status ${rpc.grpcStatus}; expected 200 with ${BODY_BYTES + 5}, grpc-status 0`,
    );
  }
}
