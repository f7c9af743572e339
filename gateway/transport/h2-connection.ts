// One long-lived HTTP/2 client connection (TLS to a peer gateway, or cleartext h2c to a local gRPC
// endpoint) with what a pool needs to know about it: ready (remote SETTINGS received), how many streams
// are open, how far from its stream limit, measured round-trip time, and whether it answers pings.
// Node's http2 creates the socket itself (handing it a TLS socket with a write in flight can abort the
// process), so TLS options go straight to http2.connect.
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
  type Settings,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import { GatewayError, neverSent, REFUSED_STREAM } from '../errors.js';

/** Flow-control windows: large enough for bulk tunnels on fast links; Node only grants what JS consumed. */
export const STREAM_WINDOW_BYTES = 1 << 20;
export const CONNECTION_WINDOW_BYTES = 16 << 20;
const MAX_SESSION_MEMORY_MB = 64;
/**
 * Fields (pseudo-headers included) a head may carry on HTTP/2: an app's request may have 2000
 * (MAX_REQUEST_FIELDS) plus the gateway's own, and node:http2 refuses more than 128 by default, which
 * turned a request with a body and 140 fields, or an endpoint's answer with 140, into a 502 between
 * gateways.
 */
export const MAX_HEADER_LIST_PAIRS = 2048;

export type H2ConnectionState = 'connecting' | 'ready' | 'draining' | 'closed';

export interface H2ConnectionEvents {
  /** Remote SETTINGS arrived: streams (including extended CONNECT) may be opened. */
  onReady(connection: H2Connection): void;
  /** The connection is gone; `err` is why, when it failed rather than closed. */
  onClosed(connection: H2Connection, err: GatewayError | undefined): void;
  /** A stream closed (slot freed). */
  onStreamClosed(connection: H2Connection): void;
}

export interface H2ConnectionOptions {
  /** `https://host:port` (peer, TLS) or `http://host:port` (h2c). */
  readonly authority: string;
  readonly tls?: SecureClientSessionOptions;
  readonly connectTimeoutMs: number;
  /** Names the far side in errors ("peer gateway gcp-euw1 at 10.0.0.7:4143"). */
  readonly describe: string;
  /** Turns a connect-time error into a GatewayError (e.g. a failed identity check → PEER_IDENTITY). */
  readonly classifyConnectError?: (err: Error) => GatewayError | undefined;
  /** Streams opened before the connection retires (default: before HTTP/2's stream ids run out). */
  readonly maxStreamsPerConnection?: number;
  /**
   * The peer's concurrent stream limit assumed until its SETTINGS arrive (Node's default: 100). Streams
   * past it wait for another connection, so a burst at a cold pool opens more connections than it needs
   * when the peer is known to allow more.
   */
  readonly assumedMaxStreams?: number;
}

/**
 * A client's stream ids are the odd numbers below 2^31, so a connection carries about 2^30 streams; the
 * next request() would fail (ERR_HTTP2_OUT_OF_STREAMS) while the session still looks ready. At 10k
 * streams a second that is some 30 hours. Retire well before.
 */
const MAX_STREAMS_PER_CONNECTION = 2 ** 30 - 2 ** 20;

/** What Node assumes of a peer's concurrent stream limit before its SETTINGS (peerMaxConcurrentStreams). */
const NODE_ASSUMED_MAX_STREAMS = 100;

const kConnection = Symbol('weft.h2.connection');

// Options for session.request() with HTTP/2's default priority spelled out. Node fills in whichever of
// weight, parent, exclusive and silent are missing, on a copy of the options, through a wrapped
// validator; with them all present a gRPC hop through one gateway ran 20-29% more calls per second
// (h2load 16x8 into gateway B of the bench: 4.9-5.5k -> 6.4-6.6k). Node copies the object, so one is shared.
const PRIORITY = { weight: 16, parent: 0, exclusive: false, silent: false } as const;
const ENDED_REQUEST = { endStream: true, ...PRIORITY } as const;
const OPEN_REQUEST = { endStream: false, ...PRIORITY } as const;

export class H2Connection {
  readonly session: ClientHttp2Session;
  state: H2ConnectionState = 'connecting';
  /** Whether the session ever became ready (a failure before that is a connect failure). */
  everReady = false;
  activeStreams = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, once known; until then the assumed limit. */
  maxStreams: number;
  rttMs: number | undefined;
  /** Streams opened over the connection's life (see MAX_STREAMS_PER_CONNECTION). */
  private openedStreams = 0;
  /** No new streams (stream budget spent, or retired by the pool): close once the last stream has. */
  private retiring = false;
  /** Epoch ms of the oldest unanswered ping, 0 when none is outstanding. */
  pingSentAtMs = 0;
  readonly createdAtMs = Date.now();
  private readonly events: H2ConnectionEvents;
  private readonly options: H2ConnectionOptions;
  private failure: GatewayError | undefined;
  /** The peer's GOAWAY said it processed no stream above this id (RFC 9113 §6.8). */
  private lastProcessedStreamId = Infinity;
  private connectTimer: NodeJS.Timeout | undefined;
  /** The session's own socket, once connected (the session hands out only a proxy that refuses destroy). */
  private socket: Duplex | undefined;

  constructor(options: H2ConnectionOptions, events: H2ConnectionEvents) {
    this.options = options;
    this.events = events;
    this.maxStreams = options.assumedMaxStreams ?? NODE_ASSUMED_MAX_STREAMS;
    const settings = { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES };
    const session = connect(options.authority, {
      ...options.tls,
      settings,
      peerMaxConcurrentStreams: this.maxStreams,
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
    });
    this.session = session;
    this.connectTimer = setTimeout(() => {
      this.destroy(
        new GatewayError(
          'UPSTREAM_CONNECT',
          `${options.describe}: no HTTP/2 session within ${options.connectTimeoutMs} ms`,
        ),
      );
    }, options.connectTimeoutMs);
    this.connectTimer.unref();
    // Nagle's algorithm holds a small frame back until the previous one is acknowledged, and delayed ACKs
    // hold that acknowledgement: a gRPC chain of two gateways lost a quarter of its calls per second to it.
    // The session's own socket proxy refuses setNoDelay; 'connect' hands over the real socket.
    session.once('connect', (_session, socket) => {
      this.socket = socket;
      socket.setNoDelay(true);
    });
    session.once('remoteSettings', (remote: Settings) => {
      if (this.state !== 'connecting') return;
      clearTimeout(this.connectTimer);
      this.maxStreams = remote.maxConcurrentStreams ?? this.maxStreams;
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      this.state = 'ready';
      this.everReady = true;
      this.events.onReady(this);
      // Retired while connecting: the streams queued meanwhile went out; none after them.
      if (this.retiring) this.retire();
    });
    session.on('remoteSettings', (remote: Settings) => {
      this.maxStreams = remote.maxConcurrentStreams ?? this.maxStreams;
    });
    session.on('goaway', (code: number, lastStreamId: number) => {
      this.lastProcessedStreamId = Math.min(this.lastProcessedStreamId, lastStreamId);
      if (this.state === 'ready' || this.state === 'connecting') this.state = 'draining';
      // A graceful GOAWAY with nothing to finish: close now. Node would only end the socket and wait for
      // the peer's FIN, which a peer that freezes while draining never sends, and no stream close would
      // come to destroy it. (With an error code Node destroys the session and its socket itself.)
      if (code === constants.NGHTTP2_NO_ERROR && this.activeStreams === 0) this.destroy();
    });
    session.on('error', (err: Error) => {
      this.failure ??= this.classify(err);
    });
    session.on('close', () => {
      clearTimeout(this.connectTimer);
      const wasConnecting = this.state === 'connecting';
      this.state = 'closed';
      const err =
        this.failure ??
        (wasConnecting
          ? new GatewayError('UPSTREAM_CONNECT', `${options.describe}: connection closed during setup`)
          : undefined);
      this.events.onClosed(this, err);
    });
  }

  /** The error that closed (or is closing) the connection. */
  get error(): GatewayError | undefined {
    return this.failure;
  }

  /** Room for another stream without exceeding the peer's limit. */
  get hasCapacity(): boolean {
    return this.state === 'ready' && !this.session.destroyed && this.activeStreams < this.maxStreams;
  }

  /**
   * Opens a stream; counts it until it closes. Only on a ready connection. A session destroyed or
   * going away before its 'close' event reached the pool makes http2 throw before anything is sent:
   * that comes back as not sent (UPSTREAM_CONNECT, retryable anywhere), naming the connection's failure.
   */
  request(headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream | GatewayError {
    let stream: ClientHttp2Stream;
    try {
      stream = this.session.request(headers, endStream ? ENDED_REQUEST : OPEN_REQUEST);
    } catch (err) {
      // A header HTTP/2 cannot carry is the request's fault, not the connection's: 400, not counted.
      if (isHeaderRefusal(err)) {
        return new GatewayError(
          'BAD_REQUEST',
          `a request header HTTP/2 cannot carry: ${(err as Error).message}`,
        );
      }
      return this.notSent(err as Error);
    }
    this.track(stream);
    return stream;
  }

  /** Counts a stream the caller opened on `session` itself (e.g. through an H2Exchange). */
  track(stream: ClientHttp2Stream): void {
    this.activeStreams++;
    const budget = this.options.maxStreamsPerConnection ?? MAX_STREAMS_PER_CONNECTION;
    if (++this.openedStreams >= budget && this.state === 'ready') {
      // No new streams here (the pool opens a fresh connection); it closes once its streams finish.
      // Not session.close() now: a stream not yet sent would be refused.
      this.state = 'draining';
      this.retiring = true;
    }
    (stream as TrackedStream)[kConnection] = this;
    stream.once('close', onTrackedStreamClose);
    // destroy(reason) fails every open stream with an 'error': its owner hears it, and a stream whose
    // owner has no listener yet (or none at all) must not turn it into an uncaught exception.
    stream.on('error', ignoreStreamError);
  }

  streamClosed(): void {
    this.activeStreams--;
    if (this.retiring && this.activeStreams === 0 && this.state !== 'connecting') this.session.close();
    this.events.onStreamClosed(this);
  }

  /** Sends a keep-alive ping unless one is outstanding; records the round-trip time. */
  ping(nowMs: number): void {
    if (this.state !== 'ready' || this.session.destroyed || this.pingSentAtMs !== 0) return;
    this.pingSentAtMs = nowMs;
    let sent = false;
    try {
      sent = this.session.ping((err, durationMs) => {
        this.pingSentAtMs = 0;
        if (!err) this.rttMs = Math.round(durationMs * 100) / 100;
      });
    } catch {
      // The session is closing (ping throws on a destroyed or closing session): its 'close' follows.
    }
    if (!sent) this.pingSentAtMs = 0;
  }

  /** The connection's own socket once connected (a TLS socket for a peer gateway). */
  get connectedSocket(): Duplex | undefined {
    return this.socket;
  }

  /** Whether the connection takes no new streams; the pool opens others meanwhile. */
  get retired(): boolean {
    return this.retiring || this.state === 'draining';
  }

  /**
   * Takes no new streams and closes once those open finish. One still connecting finishes connecting
   * first (a GOAWAY then would refuse the streams queued on it) and retires once ready.
   */
  retire(): void {
    if (this.state === 'closed') return;
    this.retiring = true;
    if (this.state === 'connecting') return;
    this.state = 'draining';
    if (this.activeStreams === 0) this.destroy();
  }

  /** Graceful: GOAWAY, open streams finish. */
  close(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'connecting') this.state = 'draining';
    if (this.activeStreams === 0) this.destroy();
    else this.session.close();
  }

  destroy(err?: GatewayError): void {
    // Streams still open get a reason: destroyed without one, Node ends their readable sides as if their
    // answers had ended, and the exchanges would pass them on whole.
    const open = this.activeStreams > 0;
    const reason =
      err ??
      (open
        ? new GatewayError('UPSTREAM_RESET', `${this.options.describe}: connection closed with streams open`)
        : undefined);
    if (reason) this.failure ??= reason;
    // A session that was closing (GOAWAY sent or received) only ends its socket on destroy() and waits
    // for the peer to close its side, which a frozen peer, or a peer that saw no end, never does. Any
    // other session Node closes itself, after its GOAWAY.
    const closing = this.session.closed;
    this.session.destroy(open ? reason : undefined);
    if (closing) this.socket?.destroy();
  }

  /**
   * What a failed stream of this connection means: not sent (UPSTREAM_CONNECT, retryable anywhere) when
   * the peer never saw it — it had no id yet (queued on a connection that closed before it was up) or
   * the peer's GOAWAY named a lower last stream — keeping the connection's own failure when that says
   * not sent too (a failed identity check); else the connection's failure if it has one.
   */
  streamError(err: Error, stream: ClientHttp2Stream): GatewayError {
    const cause = (err as Error & { cause?: unknown }).cause;
    const failure = this.failure ?? (cause instanceof Error ? this.classify(cause) : undefined);
    const id = stream.id;
    const unprocessed = id === undefined || id > this.lastProcessedStreamId;
    if (failure && (!unprocessed || neverSent(failure.code))) return failure;
    if (unprocessed) return this.notSent(failure ?? err);
    if (stream.rstCode === REFUSED_STREAM) {
      // RFC 9113 §8.7: the peer did no processing (it was at its stream limit, or going away).
      return new GatewayError('UPSTREAM_CONNECT', `${this.options.describe} refused the stream unprocessed`, {
        cause: err,
        resetCode: REFUSED_STREAM,
      });
    }
    return new GatewayError('UPSTREAM_RESET', `${this.options.describe}: ${err.message}`, {
      cause: err,
      // The peer's reset of this stream, not the loss of the connection (which Node also reports as a
      // reset of each stream).
      resetCode: this.session.destroyed ? undefined : stream.rstCode,
    });
  }

  /** A stream that never reached the peer, and why (the connection's failure, else `err`). */
  private notSent(err: Error): GatewayError {
    const why = this.failure?.message ?? err.message;
    return new GatewayError('UPSTREAM_CONNECT', `${this.options.describe}: stream not sent: ${why}`, {
      cause: err,
    });
  }

  private classify(err: Error): GatewayError {
    if (!this.everReady) {
      const classified = this.options.classifyConnectError?.(err);
      if (classified) return classified;
      return new GatewayError('UPSTREAM_CONNECT', `${this.options.describe}: ${err.message}`, { cause: err });
    }
    return new GatewayError('UPSTREAM_RESET', `${this.options.describe}: ${err.message}`, { cause: err });
  }
}

type TrackedStream = ClientHttp2Stream & { [kConnection]?: H2Connection };

function onTrackedStreamClose(this: TrackedStream): void {
  this[kConnection]?.streamClosed();
}

function ignoreStreamError(): void {}

/** node:http2's errors for a header it will not send (a list for a single-value field, a bad name or value). */
function isHeaderRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('ERR_HTTP2_HEADER') ||
      code === 'ERR_HTTP2_INVALID_HEADER_VALUE' ||
      code === 'ERR_INVALID_HTTP_TOKEN' ||
      code === 'ERR_INVALID_CHAR')
  );
}
