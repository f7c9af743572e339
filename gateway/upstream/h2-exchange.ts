// One proxied request carried as an HTTP/2 stream, on a session to a local gRPC / h2c endpoint or to a
// peer gateway. The header object is built once from the ProxyRequest; response headers, data and
// trailers are passed to the sink as Node delivers them, with backpressure both ways. Listeners are
// shared functions reaching their exchange through a symbol on the stream: no closures per request.
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { cancelStream } from './h2-cancel.js';
import {
  newHeaderMap,
  type Exchange,
  type HeaderMap,
  type ProxyRequest,
  type ResponseSink,
} from './exchange.js';

const END_STREAM_FLAG = 0x1;
const kH2Exchange = Symbol('weft.h2.exchange');
type TaggedStream = ClientHttp2Stream & { [kH2Exchange]?: H2Exchange };
type TaggedBody = Readable & { [kH2Exchange]?: H2Exchange };

/** Maps a stream failure to the gateway's vocabulary (identity, connect, reset): the stream's connection. */
export interface StreamErrorSource {
  streamError(err: Error, stream: ClientHttp2Stream): GatewayError;
}

export class H2Exchange implements Exchange {
  readonly stream: ClientHttp2Stream;
  /** The stream's session, kept: Node forgets it once the stream is destroyed. */
  private readonly session: ClientHttp2Stream['session'];
  private readonly sink: ResponseSink;
  private readonly body: Readable | null;
  private readonly errors: StreamErrorSource;
  private trailers: HeaderMap | null = null;
  private headed = false;
  private finished = false;
  private waitingForSink = false;
  /** A HEAD request: a Content-Length in its answer counts no body. */
  private readonly headRequest: boolean;
  /** Body bytes the answer's Content-Length still owes; -1 when it declared none. */
  private owed = -1;
  /** The answer is gRPC: it must end with a grpc-status (in its trailers, or a trailers-only head). */
  private grpcAnswer = false;
  private grpcStatusSeen = false;

  /** `stream` was just opened for `request` (with endStream when the request has no body). */
  constructor(
    stream: ClientHttp2Stream,
    errors: StreamErrorSource,
    request: ProxyRequest,
    sink: ResponseSink,
  ) {
    this.sink = sink;
    this.errors = errors;
    const body = request.bodyLength !== 0 ? request.body : null;
    this.body = Buffer.isBuffer(body) ? null : body;
    this.stream = stream;
    this.session = stream.session;
    this.headRequest = request.method === 'HEAD';
    (stream as TaggedStream)[kH2Exchange] = this;
    // 'data' is listened to only after 'response': Node emits 'response' on the next tick but DATA read
    // in the same batch synchronously, so a flowing stream could deliver body bytes before its head.
    stream.on('response', onStreamResponse);
    stream.on('headers', onStreamInterim);
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    stream.on('drain', onStreamDrain);
    if (Buffer.isBuffer(body)) {
      stream.end(body);
    } else if (body) {
      (body as TaggedBody)[kH2Exchange] = this;
      body.on('data', onBodyData);
      body.on('end', onBodyEnd);
      body.resume();
    }
  }

  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.detachBody();
    cancelStream(this.stream);
  }

  onResponse(headers: IncomingHttpHeaders, flags: number): void {
    if (this.finished) return;
    const status = Number(headers[':status']);
    delete headers[':status'];
    this.headed = true;
    const length = headers['content-length'];
    if (length !== undefined && !this.headRequest && status !== 204 && status !== 304)
      this.owed = Number(length);
    this.grpcAnswer = isGrpcContentType(headers['content-type']);
    this.grpcStatusSeen = headers['grpc-status'] !== undefined;
    this.sink.head(status, headers, (flags & END_STREAM_FLAG) !== 0);
    this.stream.on('data', onStreamData);
  }

  /** A 1xx head (Node reports interim answers as 'headers' before 'response'). */
  onInterim(headers: IncomingHttpHeaders): void {
    if (this.finished || this.headed) return;
    const status = Number(headers[':status']);
    if (status <= 101 || status >= 200) return;
    delete headers[':status'];
    this.sink.interim?.(status, headers);
  }

  onData(chunk: Buffer): void {
    if (this.finished) return;
    if (this.owed > 0) this.owed -= chunk.length;
    if (!this.sink.data(chunk) && !this.waitingForSink) {
      this.waitingForSink = true;
      this.stream.pause();
      this.sink.onDrain(this.resumeStream);
    }
  }

  onTrailers(trailers: IncomingHttpHeaders): void {
    this.trailers = trailers;
    if (trailers['grpc-status'] !== undefined) this.grpcStatusSeen = true;
  }

  onEnd(): void {
    if (this.finished) return;
    if (!this.headed) return; // the close handler reports a stream that ended without a response
    const cut = this.cutShort();
    this.finished = true;
    this.detachBody();
    // Answered before the whole body was sent (a 413, a gRPC status before the client stream ended):
    // the exchange is over, so stop sending with RST_STREAM(NO_ERROR) (RFC 9113 §8.1) instead of
    // holding the stream open on both ends; destroy(), as close() would first mark the cut body whole.
    // (Not yet finished, rather than not ended: a body ended but held by flow control is not all sent.)
    if (!this.stream.writableFinished) this.stream.destroy();
    if (cut !== undefined) {
      this.sink.fail(new GatewayError('UPSTREAM_RESET', cut, { resetCode: this.resetCode() }));
      return;
    }
    this.sink.end(this.trailers);
  }

  /**
   * Why an answer whose readable side ended was in fact cut short, if it was. Node ends the readable
   * side, with no error, not only on END_STREAM but also when the stream closes without one: a reset
   * with NO_ERROR, a FIN under the session, a session destroyed. A code other than NO_ERROR, a body
   * short of its Content-Length or a gRPC answer without its grpc-status tell such an end apart. (A
   * NO_ERROR reset of an answer that declared neither stays indistinguishable from its end.)
   */
  private cutShort(): string | undefined {
    const code = this.stream.rstCode;
    if (code !== undefined && code !== 0) return `upstream stream closed mid-response (HTTP/2 code ${code})`;
    if (this.owed > 0) return `upstream answer ended ${this.owed} bytes short of its content-length`;
    if (this.grpcAnswer && !this.grpcStatusSeen) return 'upstream gRPC answer ended without a grpc-status';
    return undefined;
  }

  /**
   * The code the upstream ended this stream with (NO_ERROR when it ended without one), for a gRPC
   * caller to read a status from; none when the whole connection went (then the call is UNAVAILABLE,
   * as a client that lost its own connection would say).
   */
  private resetCode(): number | undefined {
    return this.session?.destroyed === false ? (this.stream.rstCode ?? 0) : undefined;
  }

  onError(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.detachBody();
    this.sink.fail(this.errors.streamError(err, this.stream));
  }

  onClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.detachBody();
    const code = this.stream.rstCode ?? 0;
    this.sink.fail(
      new GatewayError(
        'UPSTREAM_RESET',
        `upstream stream closed ${this.headed ? 'mid-response' : 'before a response'} (HTTP/2 code ${code})`,
        { resetCode: this.resetCode() },
      ),
    );
  }

  onStreamDrain(): void {
    this.body?.resume();
  }

  onBodyData(chunk: Buffer): void {
    if (this.finished) return;
    if (!this.stream.write(chunk)) this.body?.pause();
  }

  onBodyEnd(): void {
    if (!this.finished) this.stream.end();
  }

  private readonly resumeStream = (): void => {
    this.waitingForSink = false;
    if (!this.finished) this.stream.resume();
  };

  private detachBody(): void {
    const body: TaggedBody | null = this.body;
    if (!body || body[kH2Exchange] !== this) return;
    body.removeListener('data', onBodyData);
    body.removeListener('end', onBodyEnd);
    body[kH2Exchange] = undefined;
  }
}

function exchangeOf(emitter: unknown): H2Exchange | undefined {
  return (emitter as TaggedStream)[kH2Exchange];
}

function onStreamResponse(this: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
  exchangeOf(this)?.onResponse(headers, flags);
}
function onStreamInterim(this: ClientHttp2Stream, headers: IncomingHttpHeaders): void {
  exchangeOf(this)?.onInterim(headers);
}
function onStreamData(this: ClientHttp2Stream, chunk: Buffer): void {
  exchangeOf(this)?.onData(chunk);
}
function onStreamTrailers(this: ClientHttp2Stream, trailers: IncomingHttpHeaders): void {
  exchangeOf(this)?.onTrailers(trailers);
}
function onStreamEnd(this: ClientHttp2Stream): void {
  exchangeOf(this)?.onEnd();
}
function onStreamError(this: ClientHttp2Stream, err: Error): void {
  exchangeOf(this)?.onError(err);
}
function onStreamClose(this: ClientHttp2Stream): void {
  exchangeOf(this)?.onClose();
}
function onStreamDrain(this: ClientHttp2Stream): void {
  exchangeOf(this)?.onStreamDrain();
}
function onBodyData(this: Readable, chunk: Buffer): void {
  exchangeOf(this)?.onBodyData(chunk);
}
function onBodyEnd(this: Readable): void {
  exchangeOf(this)?.onBodyEnd();
}

/**
 * gRPC proper (`application/grpc`, `+proto`, `;…`), whose status comes in headers or trailers; not
 * gRPC-Web (`application/grpc-web…`), which carries it inside the body.
 */
function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || !value.startsWith('application/grpc')) return false;
  const next = value.charAt('application/grpc'.length);
  return next === '' || next === '+' || next === ';';
}

/** True when the request carries a body (the stream must not be opened with endStream). */
export function hasBody(request: ProxyRequest): boolean {
  return request.bodyLength !== 0 && request.body !== null;
}

/**
 * The HTTP/2 request header object for a ProxyRequest. A request whose headers already carry the
 * pseudo-headers (the HTTP/1.1 fast path builds them that way) is sent as is, without a copy.
 */
export function h2RequestHeaders(request: ProxyRequest): OutgoingHttpHeaders {
  const fields = request.headers;
  if (fields[':method'] !== undefined) return fields;
  const headers: OutgoingHttpHeaders = newHeaderMap();
  headers[':method'] = request.method;
  headers[':scheme'] = 'http';
  headers[':authority'] = request.authority;
  headers[':path'] = request.path;
  for (const name in fields) headers[name] = fields[name];
  return headers;
}
