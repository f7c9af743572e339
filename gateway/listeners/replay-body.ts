// Small request bodies kept for retries, like Envoy's retry buffer. A body of known length up to
// REPLAY_BODY_LIMIT_BYTES is read whole before the first try, and each try sends it from that copy, so a
// PUT or a POST can be tried again; reading it first costs one store-and-forward of at most 64 KiB,
// usually already in the socket buffer. A body of unknown length (chunked, or an HTTP/2 or gRPC stream
// without content-length) cannot wait for its end — a streaming call would deadlock — so it streams to
// the first try while a copy is kept; once it has ended within the limit, a retry sends the copy. A
// larger body streams through once; its request is retried only when no try sent a byte of it.
import { PassThrough, type Readable } from 'node:stream';
import type { ProxyRequest } from '../upstream/exchange.js';

export const REPLAY_BODY_LIMIT_BYTES = 64 * 1024;

/** Whether the request's body is small enough, and of known length, to be kept for a replay. */
export function replayableBody(request: ProxyRequest): boolean {
  return request.body !== null && request.bodyLength > 0 && request.bodyLength <= REPLAY_BODY_LIMIT_BYTES;
}

/**
 * Reads a body of `length` bytes whole. `done` runs once: with the bytes, or with null when the source
 * failed, closed or ended short, or sent more than it declared. Returns a function that stops reading
 * (then `done` is not called).
 */
export function readWholeBody(
  body: Readable,
  length: number,
  done: (bytes: Buffer | null) => void,
): () => void {
  const chunks: Buffer[] = [];
  let received = 0;
  const finish = (bytes: Buffer | null) => {
    stop();
    done(bytes);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > length) finish(null);
    else chunks.push(chunk);
  };
  const onEnd = () => finish(received === length ? Buffer.concat(chunks, length) : null);
  const onFailure = () => finish(null);
  const stop = () => {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onFailure);
    body.off('close', onFailure);
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onFailure);
  body.on('close', onFailure);
  body.resume();
  return stop;
}

/** The request for one try, carrying the kept bytes as its body (sent in one write). */
export function withReplayedBody(request: ProxyRequest, bytes: Buffer): ProxyRequest {
  return { ...request, body: bytes };
}

/**
 * Streams `body` (of unknown length) through a copy: returns the stream the first try reads instead, and
 * calls `kept` with the whole body once it ended within the limit. Not called when the body grew past
 * the limit, failed or was cut short; a body that fails or closes early destroys the returned stream too.
 */
export function keepWhileStreaming(body: Readable, kept: (bytes: Buffer) => void): Readable {
  const through = new PassThrough();
  let chunks: Buffer[] | null = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= REPLAY_BODY_LIMIT_BYTES) chunks?.push(chunk);
    else {
      chunks = null;
      body.off('data', onData);
    }
  };
  body.on('data', onData);
  body.pipe(through);
  body.once('end', () => {
    if (chunks) kept(Buffer.concat(chunks, size));
  });
  body.once('error', (err: Error) => through.destroy(err));
  body.once('close', () => {
    if (!body.readableEnded) through.destroy(new Error('the request body was cut short'));
  });
  return through;
}
