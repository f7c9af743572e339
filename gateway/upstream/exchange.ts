// The contract between the two halves of a proxied request, after undici's dispatch(opts, handler):
// a downstream adapter (HTTP/1.1 response, HTTP/2 stream) implements ResponseSink; an upstream adapter
// (pooled HTTP/1.1 connection, HTTP/2 stream to an endpoint or to a peer gateway) takes a ProxyRequest,
// drives the sink, and returns an Exchange the downstream cancels when its caller goes away.
// Failures are values passed to `fail`, never thrown across this boundary.
import type { Duplex, Readable } from 'node:stream';
import type { GatewayError } from '../errors.js';

/** A byte stream HTTP/1.1 can run over: a TCP socket, or a lane (an HTTP/2 CONNECT stream). */
export type ByteStream = Duplex & { setTimeout(ms: number): unknown };

/** Header fields with lower-case names; a repeated field is an array. Inherits nothing (see newHeaderMap). */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Instances inherit nothing: the prototype is an empty object whose own prototype is null. */
function HeaderFields(): void {}
HeaderFields.prototype = Object.create(null) as object;

/**
 * A new, empty HeaderMap. Not Object.create(null): V8 keeps such objects in dictionary mode, where
 * every pass over a request's fields (serialising them, Node's copies and checks in http2's request()
 * and respond()) costs about three times as much. Objects of a constructor stay in fast mode, and with
 * this prototype chain a field named `constructor` or `__proto__` is just a field.
 */
export function newHeaderMap(): HeaderMap {
  return new (HeaderFields as unknown as new () => HeaderMap)();
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether sending the request twice means the same as once (RFC 9110 idempotent methods). A gRPC call
 * is a POST whose idempotency is not visible, so never.
 */
export function isIdempotent(request: { readonly method: string; readonly grpc: boolean }): boolean {
  return !request.grpc && IDEMPOTENT_METHODS.has(request.method.toUpperCase());
}

export interface ProxyRequest {
  readonly method: string;
  /** Origin-form request target (`/path?query`). */
  readonly path: string;
  /** Host / :authority as the caller sent it. */
  readonly authority: string;
  /**
   * End-to-end request fields (no hop-by-hop fields, weft fields already set). May also hold the
   * HTTP/2 pseudo-headers :method, :scheme, :authority and :path, matching the fields above, so an
   * HTTP/2 hop can send the object as is; HTTP/1.1 serializers skip names starting with ':'.
   */
  readonly headers: HeaderMap;
  /** 0: no body; n > 0: exactly n bytes; -1: a body of unknown length (until the source ends). */
  readonly bodyLength: number;
  /**
   * The body when bodyLength !== 0: a stream, consumed (and resumed) by the upstream adapter, or the
   * whole body already read (a small body kept for retries: each try sends it in one write).
   */
  readonly body: Readable | Buffer | null;
  /** A gRPC call (content-type application/grpc*): errors are answered as gRPC statuses. */
  readonly grpc: boolean;
}

/** What tracing and the access log read of a request: its line and its fields. */
export type TracedRequest = Pick<ProxyRequest, 'method' | 'path' | 'authority' | 'headers'>;

export interface ResponseSink {
  /**
   * An interim answer (1xx other than 100 and 101: 102 Processing, 103 Early Hints, …) ahead of the
   * head; a proxy passes these on (RFC 9110 §15.2). 100 Continue is the gateway's own business.
   */
  interim?(status: number, headers: HeaderMap): void;
  /** The response head, exactly once. `endStream`: nothing follows (a trailers-only gRPC answer). */
  head(status: number, headers: HeaderMap, endStream: boolean): void;
  /** A body chunk. Returns false when the caller should pause its source until `onDrain` fires. */
  data(chunk: Buffer): boolean;
  /** Runs `resume` once, when the downstream can take data again. */
  onDrain(resume: () => void): void;
  /** The response is complete; trailers (gRPC status) when the upstream sent any. */
  end(trailers: HeaderMap | null): void;
  /** The exchange failed: before `head` this answers with an error; after it, the downstream is reset. */
  fail(err: GatewayError): void;
}

export interface Exchange {
  /** The downstream went away: release the upstream (reset the stream or drop the connection). */
  cancel(): void;
  /** The downstream's answer is over, whole, failed or cut: let go of what only a try needed. */
  answered?(): void;
  /** True while the request waits in a pool's queue for a connection: nothing of it was sent. */
  readonly queued?: boolean;
}
