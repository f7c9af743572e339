// Small request bodies kept for retries, like Envoy's retry buffer. A body of known length up to
// REPLAY_BODY_LIMIT_BYTES is read whole before the first try, and each try sends it from that copy, so a
// PUT or a POST can be tried again; reading it first costs one store-and-forward of at most 64 KiB,
// usually already in the socket buffer. A body of unknown length (chunked, or an HTTP/2 or gRPC stream
// without content-length) cannot wait for its end — a streaming call would deadlock — so it streams to
// the first try while a copy is kept (KeptBody), and a retry replays the copy and goes on streaming. A
// larger body streams through once and is not retried.
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

/** The request for one try, carrying a kept body: whole (sent in one write, framed by its length) or streaming. */
export function withReplayedBody(request: ProxyRequest, body: Buffer | Readable): ProxyRequest {
  return { ...request, body, bodyLength: Buffer.isBuffer(body) ? body.length : -1 };
}

/**
 * A request body of unknown length, kept while it streams so that a failed try can be repeated: each try
 * reads its own stream, and a retry's stream replays what was read so far, then goes on with the rest as
 * it arrives — so a try that fails before the body has ended (a refused connection, a bidirectional gRPC
 * call) can still be retried. Past REPLAY_BODY_LIMIT_BYTES the copy is dropped: no more retries.
 */
export class KeptBody {
  private readonly source: Readable;
  private chunks: Buffer[] | null = [];
  private size = 0;
  private ended = false;
  /** The stream the current try reads. */
  private target: PassThrough;

  constructor(source: Readable) {
    this.source = source;
    this.target = this.newTarget();
    source.on('data', this.onData);
    source.once('end', this.onEnd);
    source.once('close', this.onClose);
  }

  /** The stream the first try reads. */
  get stream(): Readable {
    return this.target;
  }

  /** Whether a retry can send all of the body: it is within the limit, and not cut short by its caller. */
  get replayable(): boolean {
    return this.chunks !== null && (this.ended || !this.source.destroyed);
  }

  /** No more retries (the answer is on its way): drop the copy; the body still streams to the try. */
  forget(): void {
    this.chunks = null;
  }

  /**
   * The answer is over: the body goes nowhere any more. The source is let go (its reader decides what
   * to do with the rest: an HTTP/2 caller's is read and dropped, so it can finish sending it), and no
   * longer paused on behalf of a try that stopped reading.
   */
  drop(): void {
    this.chunks = null;
    this.source.off('data', this.onData);
    this.target.off('drain', this.onDrain);
    this.target.destroy();
  }

  /**
   * The body for the next try: the whole body once it has ended, else a stream of the bytes so far and
   * then the rest. The previous try's stream is dropped. Null when the body can no longer be sent whole:
   * past the limit, or cut short by its caller.
   */
  replay(): Buffer | Readable | null {
    const chunks = this.chunks;
    if (!chunks || !this.replayable) return null;
    const previous = this.target;
    previous.off('drain', this.onDrain);
    previous.destroy();
    if (this.ended) return Buffer.concat(chunks, this.size);
    const next = this.newTarget();
    for (const chunk of chunks) next.write(chunk);
    this.target = next;
    if (this.source.isPaused()) this.source.resume();
    return next;
  }

  private newTarget(): PassThrough {
    const target = new PassThrough();
    target.on('drain', this.onDrain);
    return target;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.chunks) {
      this.size += chunk.length;
      if (this.size <= REPLAY_BODY_LIMIT_BYTES) this.chunks.push(chunk);
      else this.chunks = null;
    }
    if (!this.target.write(chunk)) this.source.pause();
  };

  private readonly onDrain = (): void => {
    this.source.resume();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.target.end();
  };

  /**
   * Cut short (the caller went away, or its answer came before the body was read): end the try's stream
   * too, without an error nobody would handle — the exchange is cancelled through the sink.
   */
  private readonly onClose = (): void => {
    if (!this.ended) this.target.destroy();
  };
}
