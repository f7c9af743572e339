// Writes a proxied answer to an HTTP/1.1 caller through Node's ServerResponse: the head with the
// upstream's fields as they are (no re-encoding beyond Node's own), body with backpressure, trailers
// when chunked. Gateway errors become a short text answer carrying weft-error; a failure after the
// head was sent can only drop the connection. A gRPC call (one a calling gateway carries on a lane) is
// answered as gRPC: errors as a trailers-only answer (HTTP 200, grpc-status and grpc-message in the
// head, empty body), a failure mid-call as UNAVAILABLE trailers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { GatewayError } from '../errors.js';
import type { HeaderMap } from '../upstream/exchange.js';
import type { OutcomeListener } from '../routing/outcome.js';
import type { TargetStats } from '../routing/route-targets.js';
import {
  errorAnswerFields,
  grpcErrorFields,
  grpcStatusOfFailure,
  GrpcStatus,
  httpStatusOf,
} from '../routing/error-status.js';
import { GatewayError as GatewayErrorClass } from '../errors.js';
import { cutConnection } from '../transport/cut-connection.js';
import { DownstreamSink } from './downstream-sink.js';
import { interimHead } from './interim-answer.js';
import { dropRestOfBody, markClosing } from './lingering-close.js';

/** How Node's own writeProcessing and writeEarlyHints put a 1xx ahead of a response (not a public method). */
interface RawWriter {
  _writeRaw(data: string, encoding: BufferEncoding): boolean;
}

const kSink = Symbol('weft.h1.sink');
type TaggedResponse = ServerResponse & { [kSink]?: H1ResponseSink };

export class H1ResponseSink extends DownstreamSink {
  private readonly res: ServerResponse;
  private readonly req: IncomingMessage;
  /** writeHead refused the upstream's head: the error answer then closes the connection. */
  private headRefused = false;

  /** `grpc`: answer errors as gRPC statuses. */
  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    grpc: boolean,
    fallbackStats: TargetStats,
    onOutcome: OutcomeListener | undefined,
  ) {
    super(grpc, fallbackStats, onOutcome);
    this.req = req;
    this.res = res;
    (res as TaggedResponse)[kSink] = this;
    res.on('close', onResponseClose);
  }

  interim(status: number, headers: HeaderMap): void {
    const res = this.res as ServerResponse & RawWriter;
    // HTTP/1.0 has no interim answers; a response queued behind a pipelined one gets none either (Node
    // would put its head in front of what was buffered for it).
    if (this.finished || res.headersSent || this.req.httpVersionMinor === 0) return;
    const socket: (Socket & { _httpMessage?: unknown }) | null = res.socket;
    if (socket?._httpMessage !== res) return;
    res._writeRaw(interimHead(status, headers), 'latin1');
  }

  head(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.finished) return;
    this.status = status;
    // A gRPC status follows the body as trailers, which HTTP/1.1 carries only after a chunked body: an
    // upstream's Content-Length (nginx sends one with static gRPC replies) would make Node drop them.
    if (this.grpc && !endStream) delete headers['content-length'];
    // A trailers-only gRPC answer frames its empty body by length: chunked, a calling gateway would read
    // its status as a head with a body to come.
    if (this.grpc && endStream && headers['content-length'] === undefined) headers['content-length'] = '0';
    // Never on a 204 (RFC 9110 §8.6), which Node passes on: a lenient caller would wait for a body. Node
    // closes a keep-alive HTTP/1.0 connection after an answer with neither a length nor chunking, a 204
    // too, unless told it may chunk (it never does so on a 204).
    if (status === 204) {
      delete headers['content-length'];
      this.res.useChunkedEncodingByDefault = true;
    }
    // Trailers follow only a chunked body: Node refuses a Trailer field on any other answer (to HTTP/1.0,
    // with a Content-Length, to HEAD, a 204 or 304), and with it the whole head.
    if (headers.trailer !== undefined && !this.chunkable(status, headers, endStream)) delete headers.trailer;
    try {
      this.res.writeHead(status, headers as Record<string, string | string[]>);
    } catch (err) {
      this.exchange?.cancel();
      // writeHead kept what it had set (the status text, no body for a 204): the error answer closes
      // the connection, so that a framing it got wrong cannot reach a next answer.
      this.headRefused = true;
      this.res.statusMessage = '';
      this.fail(
        new GatewayErrorClass(
          'UPSTREAM_RESET',
          `upstream answered with a header HTTP/1.1 cannot carry: ${(err as Error).message}`,
        ),
      );
      return;
    }
    if (endStream) {
      this.dropUnreadBody();
      this.res.end();
      this.completeResponse(headers);
    } else {
      // Node holds a head until the first body write; a caller may act on it before any body comes.
      setImmediate(flushHeldHead, this.res);
    }
  }

  /** Whether Node will write this answer's body chunked (the only framing trailers can follow). */
  private chunkable(status: number, headers: HeaderMap, endStream: boolean): boolean {
    return (
      !endStream &&
      this.req.httpVersionMinor !== 0 &&
      this.req.method !== 'HEAD' &&
      status !== 204 &&
      status !== 304 &&
      headers['content-length'] === undefined
    );
  }

  data(chunk: Buffer): boolean {
    if (this.finished) return true;
    return this.res.write(chunk);
  }

  onDrain(resume: () => void): void {
    this.res.once('drain', resume);
  }

  end(trailers: HeaderMap | null): void {
    if (this.finished) return;
    if (trailers) {
      try {
        this.res.addTrailers(trailers);
      } catch {
        // A trailer HTTP/1.1 cannot carry is dropped; the body is complete.
      }
    }
    // Its head promised keep-alive: the connection carries on once the rest of the body is dropped.
    this.dropUnreadBody();
    this.res.end();
    this.completeResponse(trailers);
  }

  /**
   * Whether the gateway's own answer closes the connection: after a refused head, or while the request's
   * body is still arriving. It then says Connection: close, and Node's server ends the connection after
   * it with a lingering close (lingering-close.ts): the rest of the body is parsed and dropped, and no
   * request read after it is processed.
   */
  private closesConnection(): boolean {
    const unreadBody = bodyStillArriving(this.req);
    if (unreadBody) this.req.resume();
    const closes = unreadBody || this.headRefused;
    if (closes) markClosing(this.req.socket);
    return closes;
  }

  /** The service's answer is complete: a body still arriving goes nowhere, bounded (lingering-close.ts). */
  private dropUnreadBody(): void {
    if (bodyStillArriving(this.req)) dropRestOfBody(this.req);
  }

  fail(err: GatewayError): void {
    if (this.finished) return;
    const res = this.res;
    if (res.headersSent) {
      if (this.grpc && res.chunkedEncoding && !res.writableEnded) {
        const grpcStatus = grpcStatusOfFailure(err, GrpcStatus.UNAVAILABLE);
        res.addTrailers(grpcErrorFields(err, grpcStatus));
        res.end();
        this.completeFailure(this.status, err, grpcStatus);
        return;
      }
      if (res.socket) cutConnection(res.socket);
      else res.destroy();
      this.completeCut(this.status || 502, err);
      return;
    }
    if (this.grpc) {
      this.status = 200;
      res.writeHead(200, {
        'content-type': 'application/grpc',
        'content-length': 0,
        ...grpcErrorFields(err),
        ...(this.closesConnection() ? { connection: 'close' } : {}),
      });
      res.end();
      this.completeFailure(200, err);
      return;
    }
    const status = httpStatusOf(err.code);
    this.status = status;
    const body = `${err.message}\n`;
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...errorAnswerFields(err),
      ...(this.closesConnection() ? { connection: 'close' } : {}),
    });
    res.end(body);
    this.completeFailure(status, err);
  }

  closed(): void {
    if (!this.finished) this.downstreamGone();
  }
}

function onResponseClose(this: TaggedResponse): void {
  this[kSink]?.closed();
}

/**
 * The request's body is still arriving: an answer now closes the connection rather than read the rest.
 * Not `!req.complete` alone: a bodyless request answered inside the 'request' event is not complete yet
 * either (Node marks it after the event), and closing there dropped the pipelined requests behind it.
 */
function bodyStillArriving(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Node's `headersSent` is true once a head is stored; `_headerSent` once it went out with a write. */
type HeldHeadResponse = ServerResponse & { _headerSent?: boolean };

function flushHeldHead(res: HeldHeadResponse): void {
  if (res._headerSent === false && !res.writableEnded && !res.destroyed) res.flushHeaders();
}
