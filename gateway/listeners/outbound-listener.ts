// The plain listener local apps call: one port for HTTP/1.1 and HTTP/2 cleartext (prior knowledge, so
// gRPC too). The first bytes of a connection decide: the HTTP/2 preface `PRI * HTTP/2.0` hands the
// socket to an http2 server, anything else to an http/1 server. Neither server listens itself; both get
// sockets from this net server.
//
// HTTP/1.1 limits, chosen on purpose:
//   keepAliveTimeout 65 s   longer than typical client pool idle timeouts (60 s), so the client closes
//                           first and never reuses a connection the gateway is closing
//   headersTimeout   20 s   a slow-loris sending headers byte by byte is cut off
//   requestTimeout   0      bodies may stream for as long as they flow (uploads, long polls)
//   maxHeaderSize    32 KiB above Node's 16 KiB default for cookie-heavy apps; beyond it: 431
// HTTP/2 sessions are pinged (h2-sessions.ts): one from an app that went away without closing
// (its node died, a frozen process) is closed within 20 s. Connections use TCP keep-alive.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { HostPort } from '../config/index.js';
import { listenOn, type AcceptErrorHandler } from '../listen-error.js';
import {
  CONNECTION_WINDOW_BYTES,
  MAX_HEADER_LIST_PAIRS,
  STREAM_WINDOW_BYTES,
} from '../transport/h2-connection.js';
import { TCP_KEEPALIVE } from '../transport/tcp-keepalive.js';
import { cutConnection } from '../transport/cut-connection.js';
import type { TargetStats } from '../routing/route-targets.js';
import type { OutcomeListener } from '../routing/outcome.js';
import type { Readable } from 'node:stream';
import type { ByteStream } from '../upstream/exchange.js';
import { FastConnection, type FastPathHost, type FastResponseSink } from './h1-fast-path.js';
import { handToHttpServer, trackHandedConnections } from './handed-http-server.js';
import { arrivedAfterClose, isLingering, markClosing } from './lingering-close.js';
import type { RequestMetrics } from './request-metrics.js';
import { handToH2Server, H2Sessions, SESSION_PING_INTERVAL_MS } from './h2-sessions.js';
import { inTurn } from './request-turns.js';
import type { SimpleHead } from './simple-request-head.js';

export const HTTP1_LIMITS = {
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 20_000,
  maxHeaderSize: 32 * 1024,
} as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** How long a new connection may stay silent before its protocol is known. */
const SNIFF_TIMEOUT_MS = HTTP1_LIMITS.headersTimeoutMs;

export interface OutboundHandlers {
  onFastRequest(head: SimpleHead, body: Readable | Buffer | null, sink: FastResponseSink): void;
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /** An HTTP/1.1 CONNECT (Node's 'connect' event; without a listener Node drops the connection unanswered). */
  onConnect(req: IncomingMessage, socket: Socket): void;
  /** `rawHeaders` is the head as sent (name, value, …): the header object drops repeats of some fields. */
  onStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    rawHeaders: readonly string[],
  ): void;
  onAcceptError: AcceptErrorHandler;
  /** An HTTP/2 caller stopped answering PINGs and its connection was closed; for logging. */
  onSessionLost(message: string): void;
}

export class OutboundListener implements FastPathHost {
  readonly address: HostPort;
  readonly keepAliveTimeoutMs = HTTP1_LIMITS.keepAliveTimeoutMs;
  readonly noRouteStats: TargetStats;
  readonly onOutcome: OutcomeListener | undefined;
  private readonly fast = new Set<FastConnection>();
  private readonly handlers: OutboundHandlers;
  private readonly metrics: RequestMetrics;
  private readonly net: NetServer;
  private readonly http1: HttpServer;
  private readonly h2: Http2Server;
  private readonly sockets = new Set<Socket>();
  private readonly sessions: H2Sessions;
  private isDraining = false;
  private boundPort = 0;
  private callerStreams: number;

  /**
   * `callerStreams` is how many streams one HTTP/2 caller connection may have open at once (`limits:` in
   * the config, default 100 as HAProxy's; nginx allows 128). Each can hold an endpoint connection and,
   * across clusters, a stream window of answer its caller has not read: the limit bounds what one
   * connection can pin. A caller that needs more waits for a slot (grpc-js and Go queue the call) or opens
   * more connections.
   */
  constructor(
    address: HostPort,
    callerStreams: number,
    handlers: OutboundHandlers,
    metrics: RequestMetrics,
    noRouteStats: TargetStats,
    onOutcome: OutcomeListener | undefined,
    pingIntervalMs = SESSION_PING_INTERVAL_MS,
  ) {
    this.address = address;
    this.callerStreams = callerStreams;
    this.handlers = handlers;
    this.metrics = metrics;
    this.noRouteStats = noRouteStats;
    this.onOutcome = onOutcome;
    this.http1 = createHttpServer({
      keepAliveTimeout: HTTP1_LIMITS.keepAliveTimeoutMs,
      headersTimeout: HTTP1_LIMITS.headersTimeoutMs,
      requestTimeout: 0,
      maxHeaderSize: HTTP1_LIMITS.maxHeaderSize,
      noDelay: true,
    });
    // Node keeps only the first 2000 raw entries (1000 fields) and drops the rest without a word, a late
    // Content-Length included; the head's size bounds it instead, and headError refuses too many fields.
    this.http1.maxHeadersCount = 0;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => handlers.onRequest(req, res);
    this.http1.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (arrivedAfterClose(req.socket)) return;
      if (this.isDraining) res.shouldKeepAlive = false;
      if (!res.shouldKeepAlive) markClosing(req.socket);
      inTurn(req, res, onRequest);
    });
    this.http1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      handlers.onUpgrade(req, socket, head),
    );
    this.http1.on('connect', (req: IncomingMessage, socket: Socket) => handlers.onConnect(req, socket));
    this.http1.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
      // Bytes after a request that asked to close the connection are not requests (RFC 9112 §9.6): the
      // answer in flight still goes out, then Node closes. (An offer to upgrade to h2c is read again as
      // such a request, see outbound-tunnels.ts.)
      if (err.code === 'HPE_CLOSED_CONNECTION' && (socket as SocketWithResponse)._httpMessage) return;
      const status = answerClientError(err, socket);
      if (status !== undefined) noRouteStats.record(status, 0);
    });
    // A caller that half-closes after its request still gets the answer, then the connection closes
    // (Node's default aborts the request; nginx and HAProxy answer). The sockets allow half-open.
    (this.http1 as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.h2 = createH2Server({
      settings: {
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: callerStreams,
      },
      maxSessionMemory: 64,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
    });
    this.sessions = new H2Sessions(pingIntervalMs, (_session, message) => handlers.onSessionLost(message));
    this.h2.on('session', (session: ServerHttp2Session) => {
      this.sessions.track(session);
      session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
      session.on('error', () => session.destroy());
      if (this.isDraining) session.close();
    });
    this.h2.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) =>
        handlers.onStream(stream, headers, flags, rawHeaders),
    );
    this.net = createNetServer({ noDelay: true, allowHalfOpen: true, ...TCP_KEEPALIVE }, (socket) =>
      this.accept(socket),
    );
  }

  /** Binds; rejects with LISTEN_FAILED naming the address (e.g. EADDRINUSE). */
  async start(): Promise<void> {
    trackHandedConnections(this.http1);
    this.boundPort = await listenOn(
      this.net,
      this.address,
      'outbound listener (listen.outbound)',
      this.handlers.onAcceptError,
    );
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return this.boundPort;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** A reload's new stream limit: sent to every open HTTP/2 caller connection, and offered to new ones. */
  setCallerStreams(callerStreams: number): void {
    if (callerStreams === this.callerStreams) return;
    this.callerStreams = callerStreams;
    this.h2.updateSettings({ maxConcurrentStreams: callerStreams });
    this.sessions.updateSettings({ maxConcurrentStreams: callerStreams });
  }

  /** Stops accepting; idle keep-alive connections close, HTTP/2 sessions get GOAWAY, the rest finish. */
  drain(): void {
    this.isDraining = true;
    if (this.net.listening) this.net.close();
    this.closeIdle();
    this.sessions.closeAll();
  }

  /**
   * Called periodically while draining: connections that became idle close, and so do those lingering
   * after their last answer (lingering-close.ts).
   */
  closeIdle(): void {
    this.http1.closeIdleConnections();
    for (const connection of this.fast) connection.closeIfIdle();
    for (const socket of this.sockets) if (isLingering(socket)) socket.destroy();
  }

  route(head: SimpleHead, body: Readable | Buffer | null, sink: FastResponseSink): void {
    this.handlers.onFastRequest(head, body, sink);
  }

  handOver(socket: ByteStream, unread: Buffer): void {
    for (const connection of this.fast) if (connection.socket === socket) this.fast.delete(connection);
    handToHttpServer(this.http1, socket, unread);
  }

  destroy(): void {
    this.drain();
    // A reset, before Node's server closes its connections with a FIN: an answer or a tunnel cut here
    // must not look finished to its caller.
    for (const socket of this.sockets) cutConnection(socket);
    this.http1.closeAllConnections();
    this.http1.close(() => undefined);
    this.sessions.destroyAll();
  }

  private accept(socket: Socket): void {
    if (this.isDraining) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.metrics.countConnection('outbound', socket);
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    let seen: Buffer | undefined;
    const onData = (chunk: Buffer) => {
      seen = seen ? Buffer.concat([seen, chunk]) : chunk;
      const compared = Math.min(seen.length, PREFACE.length);
      const h2 = seen.compare(PREFACE, 0, compared, 0, compared) === 0;
      if (h2 && compared < PREFACE.length) return; // a prefix of the preface so far: wait for more
      socket.removeListener('data', onData);
      socket.removeListener('error', onSniffError);
      socket.removeListener('end', onSniffError);
      socket.setTimeout(0);
      if (h2) {
        // node:http2 ends a session when its socket ends, which a half-open socket never does on its
        // own: an HTTP/2 caller that went away (FIN without GOAWAY) would leave the socket open for good.
        (socket as { allowHalfOpen: boolean }).allowHalfOpen = false;
        socket.pause();
        socket.unshift(seen);
        // Http2Session reads what is buffered on the socket itself (on the next tick); do not resume.
        handToH2Server(this.h2, socket);
      } else {
        const connection = new FastConnection(socket, this, seen);
        if (connection.active) {
          this.fast.add(connection);
          socket.once('close', () => this.fast.delete(connection));
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', onSniffError);
    // Closed before a whole protocol preface: nothing to answer.
    socket.on('end', onSniffError);
  }
}

/** Node's http server keeps the response that is writing to a connection here (not a public field). */
type SocketWithResponse = Socket & { _httpMessage?: ServerResponse | null };

function onSniffError(this: Socket): void {
  this.destroy();
}

/**
 * Malformed requests get a clear answer and the connection closes; Node's parser has already decided
 * the status (431 for oversized headers, 408 for a header timeout, 400 otherwise). Returns the status
 * answered, or undefined when the caller was gone.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket): number | undefined {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return undefined;
  }
  let status = 400;
  let reason = 'Bad Request';
  let message = `malformed HTTP/1.1 request (${err.code ?? err.message})`;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    reason = 'Request Header Fields Too Large';
    message = `request header section exceeds ${HTTP1_LIMITS.maxHeaderSize} bytes`;
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    reason = 'Request Timeout';
    message = `request headers not received within ${HTTP1_LIMITS.headersTimeoutMs} ms`;
  }
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nweft-error: BAD_REQUEST\r\nconnection: close\r\n\r\n${body}`,
  );
  return status;
}
