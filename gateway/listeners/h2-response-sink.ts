// Writes a proxied answer to an HTTP/2 caller (an h2c/gRPC app on the outbound listener, or a peer
// gateway on the peer listener). gRPC answers keep their trailers (grpc-status, grpc-message), and a
// trailers-only answer stays trailers-only. Gateway errors are answered as HTTP status + text, or for
// gRPC as HTTP 200 with grpc-status/grpc-message; a failure mid-stream ends a gRPC call with trailers
// (UNAVAILABLE, or the status an upstream's reset reads as) and resets anything else.
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { GatewayError } from '../errors.js';
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
import { DownstreamSink } from './downstream-sink.js';

const kSink = Symbol('weft.h2.sink');
type TaggedStream = ServerHttp2Stream & { [kSink]?: H2ResponseSink };

export class H2ResponseSink extends DownstreamSink {
  private readonly stream: ServerHttp2Stream;
  private readonly acceptsTrailers: boolean;
  private waitingForTrailers = false;
  private trailers: OutgoingHttpHeaders | null = null;

  /**
   * `acceptsTrailers`: the caller said so (gRPC, or `te: trailers`); only then does the response wait
   * for upstream trailers instead of ending with the last DATA frame.
   */
  constructor(
    stream: ServerHttp2Stream,
    grpc: boolean,
    acceptsTrailers: boolean,
    fallbackStats: TargetStats,
    onOutcome: OutcomeListener | undefined,
  ) {
    super(grpc, fallbackStats, onOutcome);
    this.stream = stream;
    this.acceptsTrailers = grpc || acceptsTrailers;
    (stream as TaggedStream)[kSink] = this;
    stream.on('close', onStreamClose);
    // A caller's RST_STREAM while its body is unread: the stream is closed but not yet destroyed.
    stream.on('aborted', onStreamClose);
    // A reset stream reports an error; without a listener Node would throw it (a crash, not a failed call).
    stream.on('error', onStreamError);
  }

  interim(status: number, headers: HeaderMap): void {
    const stream = this.stream;
    if (this.finished || stream.headersSent || stream.destroyed || stream.closed) return;
    try {
      stream.additionalHeaders({ ...(headers as OutgoingHttpHeaders), ':status': status });
    } catch {
      // A field HTTP/2 cannot carry: the hint is dropped, the answer is not.
    }
  }

  head(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.finished) return;
    const stream = this.stream;
    // Closed is enough: respond() throws on a stream the caller reset, even before Node destroys it.
    if (stream.destroyed || stream.closed) {
      this.downstreamGone();
      return;
    }
    this.status = status;
    const out = headers as OutgoingHttpHeaders;
    out[':status'] = status;
    // A 426's Upgrade (what the endpoint requires) is connection-specific, which HTTP/2 forbids.
    if (out.upgrade !== undefined) delete out.upgrade;
    const waitForTrailers = this.acceptsTrailers && !endStream;
    try {
      stream.respond(out, { endStream, waitForTrailers });
    } catch (err) {
      this.exchange?.cancel();
      this.fail(unsendableHead(err));
      return;
    }
    if (waitForTrailers) {
      this.waitingForTrailers = true;
      stream.once('wantTrailers', onWantTrailers);
    }
    if (endStream) this.completeResponse(headers);
  }

  data(chunk: Buffer): boolean {
    if (this.finished) return true;
    return this.stream.write(chunk);
  }

  onDrain(resume: () => void): void {
    this.stream.once('drain', resume);
  }

  end(trailers: HeaderMap | null): void {
    if (this.finished) return;
    this.trailers = trailers;
    this.stream.end();
    this.completeResponse(trailers);
  }

  fail(err: GatewayError): void {
    if (this.finished) return;
    const stream = this.stream;
    // Closed is enough: respond() throws on a stream the caller reset, even before Node destroys it.
    if (stream.destroyed || stream.closed) {
      this.downstreamGone();
      return;
    }
    if (!stream.headersSent) {
      if (this.grpc) {
        this.status = 200;
        stream.respond(
          {
            ':status': 200,
            'content-type': 'application/grpc',
            ...grpcErrorFields(err),
          },
          { endStream: true },
        );
        this.completeFailure(200, err);
        return;
      }
      const status = httpStatusOf(err.code);
      this.status = status;
      const body = `${err.message}\n`;
      stream.respond({
        ':status': status,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        ...errorAnswerFields(err),
      });
      stream.end(body);
      this.completeFailure(status, err);
      return;
    }
    if (this.waitingForTrailers && this.grpc) {
      const grpcStatus = grpcStatusOfFailure(err, GrpcStatus.UNAVAILABLE);
      this.trailers = grpcErrorFields(err, grpcStatus);
      stream.end();
      this.completeFailure(this.status, err, grpcStatus);
    } else {
      // A reset alone (RST_STREAM INTERNAL_ERROR): close(code) would first end the answer with
      // END_STREAM, and the caller would take the cut body for a whole one. gRPC reads it as INTERNAL.
      stream.destroy(err);
      this.completeCut(this.status, err);
    }
  }

  sendTrailers(): void {
    this.waitingForTrailers = false;
    try {
      this.stream.sendTrailers(this.trailers ?? {});
    } catch {
      this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  /**
   * The answer is over while the caller may still be sending its body (the service answered before
   * reading it all: a 413, a gRPC status before the client stream ended; or the gateway answered): the
   * rest is read and dropped. Left paused, the half-read request would hold the caller under flow
   * control, and the stream (one of its stream slots) open, for good. (A RST_STREAM NO_ERROR could race
   * the trailers of a gRPC answer.)
   */
  protected override answered(): void {
    super.answered();
    if (!this.stream.readableEnded) this.stream.resume();
  }

  closed(): void {
    if (!this.finished) this.downstreamGone();
  }
}

function onStreamClose(this: TaggedStream): void {
  this[kSink]?.closed();
}

function onStreamError(this: TaggedStream): void {
  this[kSink]?.closed();
}

function onWantTrailers(this: TaggedStream): void {
  this[kSink]?.sendTrailers();
}

/** `respond()` refused the upstream's head (e.g. a repeated Content-Type): what the caller is told. */
export function unsendableHead(err: unknown): GatewayError {
  return new GatewayError(
    'UPSTREAM_RESET',
    `upstream answered with a header HTTP/2 cannot carry: ${(err as Error).message}`,
  );
}
