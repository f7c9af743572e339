// One pooled HTTP/1.1 connection, and the exchange it is carrying: to a local endpoint over TCP, or to a
// peer gateway over a lane (an HTTP/2 CONNECT stream on the shared mTLS connection). The request
// head is written as one latin1 string (fields were validated by the downstream parser: llhttp or
// nghttp2); bodies are streamed with backpressure, chunk-framed when their length is unknown. The
// response is parsed by H1ResponseParser and handed to the ResponseSink as it arrives. One exchange at a
// time; the connection goes back to its pool only when both request and response finished cleanly.
import { PassThrough, type Readable } from 'node:stream';
import { GatewayError, neverSent } from '../errors.js';
import {
  isIdempotent,
  type ByteStream,
  type Exchange,
  type HeaderMap,
  type ProxyRequest,
  type ResponseSink,
} from './exchange.js';
import { writeFramed } from './framed-write.js';
import { H1ResponseParser, type H1ResponseEvents } from './h1-response-parser.js';

/** What a connection needs from its pool. */
export interface H1ConnectionOwner {
  /** Names the far side in errors ("127.0.0.1:8080", "lane to peer gateway b/gw-1"). */
  readonly describe: string;
  readonly connectTimeoutMs: number;
  /**
   * Opens the byte stream of a new connection and calls `connection.onConnect()` once it is usable
   * (TCP: on 'connect'; lane: on the 200 answer to CONNECT). A GatewayError fails the connection.
   */
  dial(connection: H1Connection): ByteStream | GatewayError;
  /** Optional: what a stream error means (a lane knows its peer connection's failure, e.g. PEER_IDENTITY). */
  classifyError?(connection: H1Connection, err: Error): GatewayError | undefined;
  /** The connection finished an exchange and can take another. */
  released(connection: H1Connection): void;
  /** The connection is gone (closed, failed, or not reusable). */
  removed(connection: H1Connection): void;
  /** A fresh connection could not be established; the pool fails or re-places the exchange. */
  connectFailed(connection: H1Connection, exchange: H1Exchange, err: GatewayError): void;
  /** A reused connection turned out stale before any response byte: run the exchange again, on a new connection. */
  replay(exchange: H1Exchange): void;
}

const kExchange = Symbol('weft.h1.exchange');
type BodySource = Readable & { [kExchange]?: H1Exchange };

/** A request riding (or waiting for) a pooled connection. Created by the pool per request. */
export class H1Exchange implements Exchange {
  readonly request: ProxyRequest;
  readonly sink: ResponseSink;
  connection: H1Connection | null = null;
  cancelled = false;
  /** Set when the exchange may be replayed on a fresh connection (bodyless, nothing received yet). */
  retried = false;
  requestDone = false;
  responseStarted = false;
  /** Waiting in its pool's queue for a connection: nothing of it has been sent. */
  queued = false;
  private readonly onCancel: (exchange: H1Exchange) => void;

  constructor(request: ProxyRequest, sink: ResponseSink, onCancel: (exchange: H1Exchange) => void) {
    this.request = request;
    this.sink = sink;
    this.onCancel = onCancel;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.connection) this.connection.cancelExchange(this);
    else this.onCancel(this);
  }
}

export class H1Connection implements H1ResponseEvents {
  readonly socket: ByteStream;
  idleSinceMs = 0;
  private readonly owner: H1ConnectionOwner;
  private readonly parser: H1ResponseParser;
  private exchange: H1Exchange | null = null;
  private connected = false;
  private closed = false;
  private served = 0;
  private responseComplete = false;
  private responseKeepAlive = false;
  private drainWaiter = false;
  /** The socket is paused until the downstream drains (one drain listener at a time). */
  private waitingForSink = false;

  constructor(owner: H1ConnectionOwner, first: H1Exchange) {
    this.owner = owner;
    this.parser = new H1ResponseParser(this);
    this.exchange = first;
    first.connection = this;
    const dialled = owner.dial(this);
    const socket: ByteStream = dialled instanceof GatewayError ? FAILED_STREAM : dialled;
    this.socket = socket;
    if (dialled instanceof GatewayError) {
      this.closed = true;
      queueMicrotask(() => {
        this.failConnect(dialled);
        this.owner.removed(this);
      });
      return;
    }
    socket.setTimeout(owner.connectTimeoutMs);
    socket.on('timeout', onSocketTimeout);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    (socket as SocketWithConnection)[kConnection] = this;
  }

  /** True after one exchange completed on this connection (a stale keep-alive connection may fail). */
  get reused(): boolean {
    return this.served > 0;
  }

  /** Starts an exchange on this idle, connected connection. */
  run(exchange: H1Exchange): void {
    this.exchange = exchange;
    exchange.connection = this;
    this.send(exchange);
  }

  /** Drops the connection now (cancel, close, or a failure). Idempotent. */
  abort(): void {
    this.socket.destroy();
  }

  /**
   * The exchange's caller went away. A connection still being dialled sent nothing yet: it keeps
   * dialling and joins the pool, so a burst of requests reset as soon as sent (HTTP/2 rapid reset)
   * does not cost a TCP connection each. Otherwise the connection goes with the exchange.
   */
  cancelExchange(exchange: H1Exchange): void {
    if (!this.connected && this.exchange === exchange) this.detach(exchange);
    else this.abort();
  }

  onConnect(): void {
    this.connected = true;
    this.socket.setTimeout(0);
    const exchange = this.exchange;
    if (exchange) this.send(exchange);
    else this.release();
  }

  onTimeout(): void {
    if (!this.connected) {
      this.failConnect(
        new GatewayError(
          'UPSTREAM_CONNECT',
          `connect to ${this.address} timed out after ${this.owner.connectTimeoutMs} ms`,
        ),
      );
    }
  }

  onData(chunk: Buffer): void {
    const exchange = this.exchange;
    if (!exchange) {
      this.socket.destroy();
      return;
    }
    exchange.responseStarted = true;
    const result = this.parser.execute(chunk);
    if (result instanceof GatewayError) {
      this.fail(result);
      return;
    }
    if (this.responseComplete) this.finishExchange();
  }

  onEnd(): void {
    const exchange = this.exchange;
    if (!exchange) {
      this.socket.destroy();
      return;
    }
    const err = this.parser.finish();
    if (err) {
      this.fail(err);
      return;
    }
    if (this.responseComplete) this.finishExchange();
    this.socket.destroy();
  }

  onError(err: Error): void {
    const classified = this.owner.classifyError?.(this, err);
    if (classified) {
      if (this.connected) this.fail(classified);
      // Not connected: no byte of the request was sent, whatever broke (a lane whose stream reset, or
      // whose peer connection was dropped for an unanswered keep-alive ping).
      else this.failConnect(neverSent(classified.code) ? classified : notSent(classified));
      return;
    }
    if (!this.connected) {
      this.failConnect(
        new GatewayError('UPSTREAM_CONNECT', `connect to ${this.address} failed: ${err.message}`, {
          cause: err,
        }),
      );
      return;
    }
    this.fail(
      new GatewayError('UPSTREAM_RESET', `connection to ${this.address} failed: ${err.message}`, {
        cause: err,
      }),
    );
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.exchange) {
      if (!this.connected)
        this.failConnect(
          new GatewayError(
            'UPSTREAM_CONNECT',
            `connection to ${this.address} closed before it was established`,
          ),
        );
      else this.fail(new GatewayError('UPSTREAM_RESET', `upstream ${this.address} closed the connection`));
    }
    this.owner.removed(this);
  }

  onSocketDrain(): void {
    if (this.drainWaiter) {
      this.drainWaiter = false;
      const body = this.exchange?.request.body;
      if (body && !Buffer.isBuffer(body)) body.resume();
    }
  }

  // H1ResponseEvents ---------------------------------------------------------------------------

  onResponseHead(status: number, headers: HeaderMap, upgrade: boolean, chunked: boolean): void {
    const exchange = this.exchange;
    if (!exchange || exchange.cancelled) return;
    if (upgrade) {
      // Nothing asked for it: passing a 101 on would leave the caller waiting on a protocol it never chose.
      this.fail(new GatewayError('UPSTREAM_RESET', 'upstream switched protocols on a pooled request'));
      return;
    }
    // A gRPC status in the head is a trailers-only answer (an error before any message): it stays one,
    // whatever body HTTP/1.1 framed it with, unless that body is chunked and so may end in trailers of
    // its own (a peer gateway relaying a server that put a status in a head with a body: the body and the
    // trailers' status pass on as they came). A dropped body's length is dropped with it.
    const trailersOnly = exchange.request.grpc && headers['grpc-status'] !== undefined && !chunked;
    if (trailersOnly) delete headers['content-length'];
    exchange.sink.head(status, headers, trailersOnly);
  }

  onInterim(status: number, headers: HeaderMap): void {
    const exchange = this.exchange;
    if (exchange && !exchange.cancelled) exchange.sink.interim?.(status, headers);
  }

  onResponseBody(chunk: Buffer): void {
    const exchange = this.exchange;
    if (!exchange || exchange.cancelled) return;
    if (!exchange.sink.data(chunk) && !this.waitingForSink) {
      this.waitingForSink = true;
      this.socket.pause();
      exchange.sink.onDrain(() => this.resumeFor(exchange));
    }
  }

  onResponseComplete(_trailers: HeaderMap | null, keepAlive: boolean): void {
    this.responseComplete = true;
    this.responseKeepAlive = keepAlive;
    const exchange = this.exchange;
    if (exchange && !exchange.cancelled) exchange.sink.end(_trailers);
  }

  // ------------------------------------------------------------------------------------------

  /**
   * The sink of `exchange` drained: read on. Not when the connection has since moved on to another
   * exchange: a late drain of an earlier caller must not lift the current one's backpressure.
   */
  private resumeFor(exchange: H1Exchange): void {
    if (this.exchange !== exchange || !this.waitingForSink) return;
    this.waitingForSink = false;
    if (!this.closed) this.socket.resume();
  }

  private get address(): string {
    return this.owner.describe;
  }

  private send(exchange: H1Exchange): void {
    const request = exchange.request;
    this.responseComplete = false;
    this.parser.start(request.method === 'HEAD');
    let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${request.authority}\r\n`;
    const headers = request.headers;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined || name.charCodeAt(0) === 58 /* ':' */) continue;
      if (typeof value === 'string') head += `${name}: ${value}\r\n`;
      else for (const item of value) head += `${name}: ${item}\r\n`;
    }
    // TE is hop-by-hop: its sender names it in Connection (RFC 9110 §10.1.4).
    if (headers.te !== undefined) head += 'connection: te\r\n';
    const body = request.body;
    if (request.bodyLength === 0 || !body) {
      if (
        request.method !== 'GET' &&
        LENGTH_METHODS.has(request.method) &&
        headers['content-length'] === undefined
      )
        head += 'content-length: 0\r\n';
      this.socket.write(`${head}\r\n`, 'latin1');
      exchange.requestDone = true;
      return;
    }
    if (Buffer.isBuffer(body)) {
      // A whole body is framed by its length: a kept copy of a chunked upload has no Content-Length.
      const length = headers['content-length'] === undefined ? `content-length: ${body.length}\r\n` : '';
      writeFramed(this.socket, `${head}${length}\r\n`, body, '');
      exchange.requestDone = true;
      return;
    }
    const chunked = request.bodyLength < 0;
    this.socket.write(chunked ? `${head}transfer-encoding: chunked\r\n\r\n` : `${head}\r\n`, 'latin1');
    (body as BodySource)[kExchange] = exchange;
    body.on('data', chunked ? onBodyChunked : onBodyPlain);
    body.on('end', chunked ? onBodyEndChunked : onBodyEndPlain);
    body.resume();
  }

  /** Writes one request body chunk; pauses the source when the socket is full. */
  writeBody(source: Readable, chunk: Buffer, chunked: boolean): void {
    if (this.closed) return;
    let ok: boolean;
    if (chunked) {
      if (chunk.length === 0) return;
      ok = writeFramed(this.socket, `${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
    } else {
      ok = this.socket.write(chunk);
    }
    if (!ok) {
      source.pause();
      this.drainWaiter = true;
    }
  }

  endBody(exchange: H1Exchange, chunked: boolean): void {
    if (this.closed) return;
    if (chunked) this.socket.write('0\r\n\r\n', 'latin1');
    exchange.requestDone = true;
    if (this.responseComplete && this.exchange === exchange) this.finishExchange();
  }

  private finishExchange(): void {
    const exchange = this.exchange;
    if (!exchange) return;
    if (!exchange.requestDone) {
      // The upstream answered before the request body was sent (e.g. 413): the connection cannot be reused.
      this.detach(exchange);
      this.socket.destroy();
      return;
    }
    this.detach(exchange);
    this.served++;
    // The last body chunk may have paused the socket for a downstream that will never drain now.
    if (this.waitingForSink) {
      this.waitingForSink = false;
      this.socket.resume();
    }
    if (this.responseKeepAlive && !exchange.cancelled) this.release();
    else this.socket.destroy();
  }

  /** Idle and reusable: back to the pool, which may hand it a queued exchange at once. */
  private release(): void {
    this.idleSinceMs = Date.now();
    this.owner.released(this);
  }

  private detach(exchange: H1Exchange): void {
    this.exchange = null;
    exchange.connection = null;
    const request = exchange.request.body;
    const body: BodySource | null = request && !Buffer.isBuffer(request) ? request : null;
    if (body && body[kExchange] === exchange) {
      body.removeListener('data', onBodyChunked);
      body.removeListener('data', onBodyPlain);
      body.removeListener('end', onBodyEndChunked);
      body.removeListener('end', onBodyEndPlain);
      body[kExchange] = undefined;
    }
  }

  private failConnect(err: GatewayError): void {
    const exchange = this.exchange;
    this.socket.destroy();
    if (!exchange) return;
    this.detach(exchange);
    this.owner.connectFailed(this, exchange, err);
  }

  private fail(err: GatewayError): void {
    const exchange = this.exchange;
    this.socket.destroy();
    if (!exchange) return;
    this.detach(exchange);
    if (exchange.cancelled) return;
    const request = exchange.request;
    if (
      !exchange.responseStarted &&
      this.reused &&
      request.bodyLength === 0 &&
      isIdempotent(request) &&
      !exchange.retried
    ) {
      // A keep-alive connection the upstream had already closed: replay once on a fresh connection. Only
      // an idempotent request: the upstream may have acted on it before the connection broke.
      exchange.retried = true;
      this.owner.replay(exchange);
      return;
    }
    exchange.sink.fail(err);
  }
}

/** A failure before the request left: retryable anywhere (UPSTREAM_CONNECT), same message. */
function notSent(err: GatewayError): GatewayError {
  return new GatewayError('UPSTREAM_CONNECT', err.message, { cause: err });
}

/**
 * Methods that define a meaning for a body: a request of one without a body says `content-length: 0`
 * (RFC 9110 §8.6), which HTTP/2 callers leave out and some servers require (411 Length Required).
 */
const LENGTH_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const kConnection = Symbol('weft.h1.connection');
type SocketWithConnection = ByteStream & { [kConnection]: H1Connection };

/** Stands in for the stream of a connection whose dial failed: every operation is a no-op. */
const FAILED_STREAM = new PassThrough() as unknown as ByteStream;
FAILED_STREAM.destroy();

function connectionOf(socket: unknown): H1Connection {
  return (socket as SocketWithConnection)[kConnection];
}

function onSocketTimeout(this: ByteStream): void {
  connectionOf(this).onTimeout();
}
function onSocketData(this: ByteStream, chunk: Buffer): void {
  connectionOf(this).onData(chunk);
}
function onSocketEnd(this: ByteStream): void {
  connectionOf(this).onEnd();
}
function onSocketError(this: ByteStream, err: Error): void {
  connectionOf(this).onError(err);
}
function onSocketClose(this: ByteStream): void {
  connectionOf(this).onClose();
}
function onSocketDrain(this: ByteStream): void {
  connectionOf(this).onSocketDrain();
}

function onBodyPlain(this: BodySource, chunk: Buffer): void {
  this[kExchange]?.connection?.writeBody(this, chunk, false);
}
function onBodyChunked(this: BodySource, chunk: Buffer): void {
  this[kExchange]?.connection?.writeBody(this, chunk, true);
}
function onBodyEndPlain(this: BodySource): void {
  const exchange = this[kExchange];
  if (exchange) exchange.connection?.endBody(exchange, false);
}
function onBodyEndChunked(this: BodySource): void {
  const exchange = this[kExchange];
  if (exchange) exchange.connection?.endBody(exchange, true);
}
