// The HTTP/1.1 fast path of the outbound listener. Node's http server costs more per request than the
// rest of the hop together (IncomingMessage, ServerResponse, header validation and re-encoding), and
// most calls are small bodyless requests. So a new connection starts here: each complete, simple
// request head (see simple-request-head.ts) is routed directly and its answer written straight to the
// socket. On lanes, which another weft gateway writes, requests with bodies (gRPC calls) are read here
// too (fast-request-body.ts), and gRPC calls answered as gRPC. The first request that is anything else
// (a body where bodies are not read, an upgrade, Expect, a split or malformed head) and every byte
// after it go to Node's http server, which stays the authority on parsing and errors: the connection
// is handed over with its unread bytes, once no answer is in flight.
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { OutcomeListener } from '../routing/outcome.js';
import type { TargetStats } from '../routing/route-targets.js';
import type { ByteStream, HeaderMap } from '../upstream/exchange.js';
import {
  errorAnswerFields,
  grpcErrorFields,
  grpcStatusOfFailure,
  GrpcStatus,
  httpStatusOf,
} from '../routing/error-status.js';
import { isHopByHop } from '../routing/proxy-headers.js';
import { writeFramed } from '../upstream/framed-write.js';
import { cutConnection } from '../transport/cut-connection.js';
import { DownstreamSink } from './downstream-sink.js';
import { FastRequestBody } from './fast-request-body.js';
import { interimHead } from './interim-answer.js';
import { capLinger, LINGER_MS } from './lingering-close.js';
import { parseSimpleHead, type SimpleHead } from './simple-request-head.js';

const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');

/** Unanswered pipelined bytes held before the socket is paused. */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** Heads longer than this go to Node's parser, which answers 431 beyond its own limit. */
export const MAX_FAST_HEAD_BYTES = 16 * 1024;

export interface FastPathHost {
  /**
   * Routes a simple request; the sink writes the answer. `body` when it has one: a stream, or the whole
   * body when it arrived with the head.
   */
  route(head: SimpleHead, body: Readable | Buffer | null, sink: FastResponseSink): void;
  /** Gives the connection to Node's http server with `unread` bytes to parse first. */
  handOver(socket: ByteStream, unread: Buffer): void;
  readonly keepAliveTimeoutMs: number;
  readonly noRouteStats: TargetStats;
  readonly onOutcome: OutcomeListener | undefined;
  /** True while the gateway drains: answers carry Connection: close. */
  readonly draining: boolean;
  /**
   * Wait for the rest of a head that arrived in pieces instead of handing the connection over. Lanes
   * want this: flow control splits their messages under bursts, and a lane handed to Node's http
   * server costs it its fast path for good.
   */
  readonly waitForSplitHeads?: boolean;
  /** Read request bodies here (Content-Length or chunked) instead of handing them to Node's parser. */
  readonly readsBodies?: boolean;
}

const kConnection = Symbol('weft.fast.connection');
type FastSocket = ByteStream & { [kConnection]?: FastConnection };

export class FastConnection {
  readonly socket: ByteStream;
  private readonly host: FastPathHost;
  private pending: Buffer | null = null;
  private current: FastResponseSink | null = null;
  /** The current request's body while it is still arriving. */
  private body: FastRequestBody | null = null;
  private handedOver = false;
  private closing = false;
  /** The caller finished sending (half-close): answer what it sent, then close. */
  private inputEnded = false;
  /** An answer left the socket's write buffer full: the next request waits for the caller to read. */
  private awaitingDrain = false;
  /** next() is on the stack; an answer completed inside it asks for another pass instead of recursing. */
  private stepping = false;
  private stepAgain = false;

  constructor(socket: ByteStream, host: FastPathHost, first: Buffer | null) {
    this.socket = socket;
    this.host = host;
    (socket as FastSocket)[kConnection] = this;
    socket.on('data', onFastData);
    socket.on('close', onFastClose);
    socket.on('error', onFastError);
    socket.on('timeout', onFastTimeout);
    socket.on('end', onFastEnd);
    socket.setTimeout(host.keepAliveTimeoutMs);
    if (first) this.onData(first);
  }

  onData(chunk: Buffer): void {
    if (this.body) {
      const rest = this.feedBody(this.body, chunk);
      if (!rest) return;
      chunk = rest;
    }
    if (this.closing && !this.current) return;
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.current || this.awaitingDrain) {
      if (this.pending.length > MAX_BUFFERED_BYTES) this.socket.pause();
      return;
    }
    this.next();
  }

  /** The current answer is complete: close, or go on with buffered requests. */
  answered(sink: FastResponseSink, keepOpen: boolean): void {
    if (this.current !== sink) return;
    this.current = null;
    const body = this.body;
    if (body) {
      // Answered before its request body was read: skipping the rest is not worth keeping the connection.
      this.body = null;
      body.destroy();
      keepOpen = false;
    }
    if (!keepOpen || this.closing) {
      this.closing = true;
      this.socket.setTimeout(LINGER_MS);
      this.socket.end();
      capLinger(this.socket);
      return;
    }
    this.socket.setTimeout(this.host.keepAliveTimeoutMs);
    if (this.socket.writableNeedDrain) {
      // The caller is not taking its answers: read and answer no more until it does (pipelined
      // requests would otherwise pile their answers up here).
      this.awaitingDrain = true;
      this.socket.pause();
      this.socket.once('drain', () => {
        this.awaitingDrain = false;
        this.answerNext();
      });
      return;
    }
    this.answerNext();
  }

  private answerNext(): void {
    if (this.socket.isPaused()) this.socket.resume();
    if (this.pending || this.inputEnded) this.next();
  }

  onEnd(): void {
    this.inputEnded = true;
    if (this.body) {
      // The body was cut short: there is no whole request to answer.
      this.socket.destroy();
      return;
    }
    if (!this.current) this.next();
  }

  onClose(): void {
    const body = this.body;
    this.body = null;
    this.current?.closed();
    this.current = null;
    body?.destroy();
  }

  onTimeout(): void {
    if (!this.current) this.socket.destroy();
  }

  /** Draining: an idle connection closes now, a busy one after its answer. */
  closeIfIdle(): void {
    this.closing = true;
    if (!this.current && !this.handedOver) this.socket.end();
  }

  get active(): boolean {
    return !this.handedOver && !this.socket.destroyed;
  }

  /** The current request's body is still arriving. */
  get readingBody(): boolean {
    return this.body !== null;
  }

  /**
   * Starts the next buffered request. A loop, not recursion: an answer written at once (an unknown name)
   * completes inside route(), and a read full of pipelined requests would otherwise nest one call chain
   * per request until the stack overflows.
   */
  private next(): void {
    if (this.stepping) {
      this.stepAgain = true;
      return;
    }
    this.stepping = true;
    try {
      do {
        this.stepAgain = false;
        this.step();
      } while (this.stepAgain);
    } finally {
      this.stepping = false;
    }
  }

  private step(): void {
    const data = this.pending;
    if (this.closing || this.handedOver || this.awaitingDrain) return;
    if (!data) {
      if (this.inputEnded) this.socket.end();
      return;
    }
    const end = data.indexOf(CRLF2);
    if (end < 0 && this.inputEnded) {
      // A head the caller will never finish.
      this.socket.end();
      return;
    }
    if (end < 0 && this.host.waitForSplitHeads && data.length <= MAX_FAST_HEAD_BYTES) return;
    const head =
      end < 0 || end > MAX_FAST_HEAD_BYTES
        ? undefined
        : parseSimpleHead(data.toString('latin1', 0, end), this.host.readsBodies);
    if (!head) {
      this.handOver(data);
      return;
    }
    this.pending = null;
    let rest = end + 4 < data.length ? data.subarray(end + 4) : null;
    const keepOpen = head.keepAlive && !this.host.draining;
    const sink = new FastResponseSink(this, head, keepOpen, this.host.noRouteStats, this.host.onOutcome);
    this.current = sink;
    this.socket.setTimeout(0);
    let body: FastRequestBody | Buffer | null = null;
    if (head.bodyLength > 0 && rest && rest.length >= head.bodyLength) {
      // The whole body came with its head (a unary gRPC call usually does): pass it as it is.
      body = rest.subarray(0, head.bodyLength);
      rest = rest.length > head.bodyLength ? rest.subarray(head.bodyLength) : null;
    } else if (head.bodyLength !== 0) {
      body = new FastRequestBody(head.bodyLength, this.pullBody);
      this.body = body;
      if (rest) rest = this.feedBody(body, rest);
      if (this.current !== sink) return;
    }
    this.pending = rest;
    this.host.route(head, body, sink);
  }

  /** Feeds `chunk` to the request body; returns the bytes after the body. */
  private feedBody(body: FastRequestBody, chunk: Buffer): Buffer | null {
    const rest = body.feed(chunk);
    if (body.invalid !== null) {
      this.bodyFailed(body.invalid);
      return null;
    }
    if (body.complete) this.body = null;
    else if (body.full) this.socket.pause();
    return rest;
  }

  /** The body's consumer wants more: read on if the body had paused the connection. */
  private readonly pullBody = (): void => {
    if (this.body && this.socket.isPaused()) this.socket.resume();
  };

  /** The body's framing is broken: the rest of the connection cannot be read. Answer 400 and close. */
  private bodyFailed(reason: string): void {
    this.closing = true;
    const sink = this.current;
    if (!sink) return;
    sink.exchange?.cancel();
    sink.fail(new GatewayError('BAD_REQUEST', `malformed request body: ${reason}`));
  }

  private handOver(unread: Buffer): void {
    this.handedOver = true;
    this.pending = null;
    const socket = this.socket;
    socket.removeListener('data', onFastData);
    socket.removeListener('close', onFastClose);
    socket.removeListener('error', onFastError);
    socket.removeListener('timeout', onFastTimeout);
    socket.removeListener('end', onFastEnd);
    socket.setTimeout(0);
    (socket as FastSocket)[kConnection] = undefined;
    this.host.handOver(socket, unread);
  }
}

function connectionOf(socket: ByteStream): FastConnection | undefined {
  return (socket as FastSocket)[kConnection];
}
function onFastData(this: ByteStream, chunk: Buffer): void {
  connectionOf(this)?.onData(chunk);
}
function onFastClose(this: ByteStream): void {
  connectionOf(this)?.onClose();
}
function onFastError(this: ByteStream): void {
  this.destroy();
}
function onFastTimeout(this: ByteStream): void {
  connectionOf(this)?.onTimeout();
}
function onFastEnd(this: ByteStream): void {
  connectionOf(this)?.onEnd();
}

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Writes one answer of the fast path straight to the socket, in HTTP/1.1 framing. */
export class FastResponseSink extends DownstreamSink {
  private readonly connection: FastConnection;
  private readonly socket: ByteStream;
  private readonly request: SimpleHead;
  private readonly keepOpen: boolean;
  private chunked = false;
  private bodyless = false;
  private headSent = false;
  /**
   * The head, held until the first body bytes or the end so that both leave in one write; sent alone once
   * the event loop's pass that read it is over (sendHeldHead), since a caller may act on a head before any
   * body comes (an event stream opens, a gRPC client reads its initial metadata).
   */
  private pendingHead: string | null = null;
  /** An HTTP/1.0 caller got an unframed body: only closing the connection can end it. */
  private mustClose = false;

  constructor(
    connection: FastConnection,
    request: SimpleHead,
    keepOpen: boolean,
    fallbackStats: TargetStats,
    onOutcome: OutcomeListener | undefined,
  ) {
    super(request.grpc, fallbackStats, onOutcome);
    this.connection = connection;
    this.socket = connection.socket;
    this.request = request;
    this.keepOpen = keepOpen;
  }

  interim(status: number, headers: HeaderMap): void {
    if (this.finished || this.headSent || this.request.http10) return;
    this.socket.write(interimHead(status, headers), 'latin1');
  }

  head(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.finished || this.headSent) return;
    this.status = status;
    this.headSent = true;
    this.bodyless = this.request.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\n`;
    let hasLength = false;
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name)) continue;
      const value = headers[name];
      if (value === undefined) continue;
      if (name === 'content-length') {
        // A gRPC status follows the body as trailers, which only a chunked body can carry: an
        // upstream's Content-Length (nginx sends one with static gRPC replies) is dropped.
        if (this.grpc && !endStream) continue;
        // Never on a 1xx or 204 (RFC 9110 §8.6): a lenient caller would wait for a body that is not there.
        if (status === 204 || status < 200) continue;
        hasLength = true;
      }
      if (typeof value === 'string') head += `${name}: ${value}\r\n`;
      else for (const item of value) head += `${name}: ${item}\r\n`;
    }
    if (!this.bodyless && !hasLength && !endStream) {
      if (this.request.http10) {
        this.mustClose = true;
      } else {
        this.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    } else if (!this.bodyless && !hasLength && endStream) {
      head += 'content-length: 0\r\n';
    }
    if (!this.keepOpen || this.mustClose) head += 'connection: close\r\n';
    else if (this.request.http10) head += 'connection: keep-alive\r\n';
    this.pendingHead = `${head}\r\n`;
    // A trailers-only answer: its head carries what trailers would (a gRPC status), so it is classified by it.
    if (endStream) this.finish(null, headers);
    // Not process.nextTick: an HTTP/2 endpoint's head and first DATA frame reach us in separate callbacks
    // of one read, and ticks run between them.
    else setImmediate(sendHeldHead, this);
  }

  /** Writes the head if no body bytes or end took it with them. */
  sendHead(): void {
    if (this.pendingHead !== null && !this.finished) this.socket.write(this.takeHead(), 'latin1');
  }

  data(chunk: Buffer): boolean {
    if (this.finished || this.bodyless) return true;
    if (this.chunked) {
      if (chunk.length === 0) return true;
      writeFramed(this.socket, `${this.takeHead()}${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
    } else {
      writeFramed(this.socket, this.takeHead(), chunk, '');
    }
    return !this.socket.writableNeedDrain;
  }

  onDrain(resume: () => void): void {
    this.socket.once('drain', resume);
  }

  end(trailers: HeaderMap | null): void {
    this.finish(trailers, trailers);
  }

  /** Ends the answer with `trailers`; `fields` (the trailers, or a trailers-only head) classify it. */
  private finish(trailers: HeaderMap | null, fields: HeaderMap | null): void {
    if (this.finished) return;
    const socket = this.socket;
    if (this.chunked) {
      socket.write(`${this.takeHead()}0\r\n${trailers ? fieldLines(trailers) : ''}\r\n`, 'latin1');
    } else if (this.pendingHead !== null) {
      socket.write(this.takeHead(), 'latin1');
    }
    this.completeResponse(fields);
    this.connection.answered(this, this.keepOpen && !this.mustClose);
  }

  fail(err: GatewayError): void {
    if (this.finished) return;
    if (this.headSent) {
      if (this.grpc && this.chunked) {
        // The call ends in trailers (UNAVAILABLE, or what the upstream's reset says); the connection
        // stays in step.
        const grpcStatus = grpcStatusOfFailure(err, GrpcStatus.UNAVAILABLE);
        const trailers = fieldLines(grpcErrorFields(err, grpcStatus));
        this.socket.write(`${this.takeHead()}0\r\n${trailers}\r\n`, 'latin1');
        this.completeFailure(this.status, err, grpcStatus);
        this.connection.answered(this, this.keepOpen);
        return;
      }
      cutConnection(this.socket);
      this.completeCut(this.status || 502, err);
      return;
    }
    this.headSent = true;
    const close = !this.keepOpen || this.connection.readingBody ? 'connection: close\r\n' : '';
    if (this.grpc) {
      // A trailers-only gRPC answer: the status in the head, no body.
      this.status = 200;
      const fields = fieldLines(grpcErrorFields(err));
      this.socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ncontent-length: 0\r\n${fields}${close}\r\n`,
        'latin1',
      );
      this.completeFailure(200, err);
      this.connection.answered(this, this.keepOpen);
      return;
    }
    const status = httpStatusOf(err.code);
    this.status = status;
    const body = `${err.message}\n`;
    const head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${fieldLines(errorAnswerFields(err))}${close}`;
    this.socket.write(`${head}\r\n${this.request.method === 'HEAD' ? '' : body}`);
    this.completeFailure(status, err);
    this.connection.answered(this, this.keepOpen);
  }

  closed(): void {
    if (!this.finished) this.downstreamGone();
  }

  private takeHead(): string {
    const head = this.pendingHead ?? '';
    this.pendingHead = null;
    return head;
  }
}

function sendHeldHead(sink: FastResponseSink): void {
  sink.sendHead();
}

/** `name: value` lines (CRLF-ended) for `fields`, a repeated field as one line per value. */
function fieldLines(fields: HeaderMap): string {
  let lines = '';
  for (const name in fields) {
    const value = fields[name];
    if (typeof value === 'string') lines += `${name}: ${value}\r\n`;
    else if (value) for (const item of value) lines += `${name}: ${item}\r\n`;
  }
  return lines;
}
