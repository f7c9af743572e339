// The mTLS listener other gateways dial: TLS 1.3 only, a client certificate from the fabric's trust
// anchor required. The caller's cluster is learned once per connection from the certificate's SPIFFE
// ID; a certificate that proves no gateway of this trust domain is refused before anything is served.
// ALPN picks what the connection carries:
//   h2        the multiplexed connection: requests, lanes and upgrade tunnels as HTTP/2 streams
//             (extended CONNECT enabled, RFC 8441)
//   weft-tcp  one opaque TCP tunnel (see opaque-tunnel.ts): bulk bytes skip HTTP/2 framing
// Reloaded TLS material applies to new handshakes only; established connections continue.
//
// A caller that goes away without closing (its host died, a partition, a frozen process) would keep
// its connection here for good: TCP notices nothing while we have nothing to send. So a handshake gets
// HANDSHAKE_TIMEOUT_MS, and every HTTP/2 session is pinged (h2-sessions.ts). Every connection has
// TCP keep-alive (tcp-keepalive.ts): opaque tunnels have no PING.
import {
  constants,
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { constants as cryptoConstants, type X509Certificate } from 'node:crypto';
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';
import { callerIdentityOf, connectionStillAnchored, parseCertificateBundle } from '../../infra/index.js';
import type { HostPort } from '../config/index.js';
import { listenOn, type AcceptErrorHandler } from '../listen-error.js';
import {
  CONNECTION_WINDOW_BYTES,
  MAX_HEADER_LIST_PAIRS,
  STREAM_WINDOW_BYTES,
} from '../transport/h2-connection.js';
import { OPAQUE_TCP_ALPN } from '../transport/opaque-tunnel.js';
import { TCP_KEEPALIVE } from '../transport/tcp-keepalive.js';
import { PEER_MAX_CONCURRENT_STREAMS, type TlsCredentials } from '../transport/peer-transport.js';
import type { RequestMetrics } from './request-metrics.js';
import { cutConnection } from '../transport/cut-connection.js';
import { handToH2Server, H2Sessions, SESSION_PING_INTERVAL_MS } from './h2-sessions.js';

/** `rawHeaders` is the head as sent (name, value, …): the header object drops repeats of some fields. */
export type PeerStreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  rawHeaders: readonly string[],
  caller: string,
) => void;
export type PeerTunnelHandler = (socket: TLSSocket, caller: string) => void;

const kCaller = Symbol('weft.peer.caller');
type CallerTagged = { [kCaller]?: string };

/** A TLS handshake that takes longer is cut (Node's default is 120 s, too long for an exposed port). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export class PeerListener {
  readonly address: HostPort;
  private readonly tls: TlsServer;
  private readonly h2: Http2Server;
  private readonly tunnels = new Set<TLSSocket>();
  /** Every accepted connection, from accept (its handshake included) to close. */
  private readonly accepted = new Set<Socket>();
  private readonly metrics: RequestMetrics;
  private readonly onRefused: (message: string) => void;
  private readonly onAcceptError: AcceptErrorHandler;
  private boundPort = 0;
  private draining = false;
  private readonly sessions: H2Sessions;
  /** The trust anchors in force (tls.ca, then what the last trust change put in force). */
  private anchors: readonly X509Certificate[];
  /** Counts trust changes: an accepted connection remembers the one its handshake began under. */
  private trustGeneration = 0;
  /** Connections in their handshake, by remote address and port: the trust generation they began under. */
  private readonly handshakes = new Map<string, { readonly generation: number }>();

  constructor(options: {
    address: HostPort;
    trustDomain: string;
    tls: TlsCredentials;
    metrics: RequestMetrics;
    onStream: PeerStreamHandler;
    onTunnel: PeerTunnelHandler;
    /** A caller was refused at the connection level (bad identity, failed handshake); for logging. */
    onRefused: (message: string) => void;
    /** A caller's session was closed because it stopped answering PINGs; for logging. */
    onCallerLost: (caller: string, message: string) => void;
    onAcceptError: AcceptErrorHandler;
    /** How often each session is pinged (default SESSION_PING_INTERVAL_MS). */
    pingIntervalMs?: number;
    /** Default HANDSHAKE_TIMEOUT_MS. */
    handshakeTimeoutMs?: number;
  }) {
    this.address = options.address;
    this.anchors = parseCertificateBundle(options.tls.ca.toString('latin1'));
    this.metrics = options.metrics;
    this.onRefused = options.onRefused;
    this.sessions = new H2Sessions(options.pingIntervalMs ?? SESSION_PING_INTERVAL_MS, (session, message) =>
      options.onCallerLost((session as ServerHttp2Session & CallerTagged)[kCaller] ?? '(unknown)', message),
    );
    this.onAcceptError = options.onAcceptError;
    const trustDomain = options.trustDomain;
    // HTTP/2 runs over the TLS sockets this listener accepted (a fresh socket, nothing in flight).
    this.h2 = createH2Server({
      settings: {
        enableConnectProtocol: true,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: PEER_MAX_CONCURRENT_STREAMS,
      },
      maxSessionMemory: 64,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
    });
    this.h2.on('session', (session: ServerHttp2Session & CallerTagged) => {
      session[kCaller] = (session.socket as TLSSocket & CallerTagged)[kCaller];
      this.sessions.track(session);
      session.on('error', () => session.destroy());
      // The connection-level window starts at 64 KiB whatever the settings say; bulk streams need more.
      session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
      if (this.draining) session.close();
    });
    const onStream = (
      stream: ServerHttp2Stream,
      headers: IncomingHttpHeaders,
      flags: number,
      rawHeaders: string[],
    ): void => {
      const caller = (stream.session as (ServerHttp2Session & CallerTagged) | undefined)?.[kCaller];
      if (caller === undefined) {
        stream.on('error', () => undefined); // closing with an error code reports it on the stream
        stream.close(constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      options.onStream(stream, headers, flags, rawHeaders, caller);
    };
    this.h2.on('stream', onStream);
    this.tls = createTlsServer(
      {
        ...tlsOptions(options.tls),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2', OPAQUE_TCP_ALPN],
        handshakeTimeout: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
        // Small frames leave at once (see h2-connection.ts: Nagle and delayed ACKs stall request/response).
        noDelay: true,
        ...TCP_KEEPALIVE,
      },
      (socket: TLSSocket & CallerTagged) => {
        const caller = callerIdentityOf(socket.getPeerCertificate(), trustDomain);
        if (caller instanceof Error) {
          this.onRefused(caller.message);
          socket.destroy();
          return;
        }
        if (!this.stillAnchored(socket)) {
          this.onRefused(
            `caller ${caller.cluster} refused: its certificate does not chain to the trust anchors that changed during its handshake`,
          );
          socket.destroy();
          return;
        }
        socket[kCaller] = caller.cluster;
        this.metrics.countConnection('peer', socket);
        if (socket.alpnProtocol === OPAQUE_TCP_ALPN) {
          if (this.draining) {
            socket.destroy();
            return;
          }
          // A tunnel carries its caller's half-close: keep our side writable after the caller's FIN.
          (socket as { allowHalfOpen: boolean }).allowHalfOpen = true;
          this.tunnels.add(socket);
          socket.once('close', () => this.tunnels.delete(socket));
          options.onTunnel(socket, caller.cluster);
          return;
        }
        if (socket.alpnProtocol !== 'h2') {
          this.onRefused(
            `caller ${caller.cluster} negotiated no known protocol (${String(socket.alpnProtocol)})`,
          );
          socket.destroy();
          return;
        }
        handToH2Server(this.h2, socket);
      },
    );
    this.tls.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      this.onRefused(`TLS handshake refused: ${err.message}`);
      // Node closes a connection whose handshake failed, but not one whose handshake timed out.
      socket.destroy();
    });
    this.tls.on('connection', (socket: Socket) => {
      this.accepted.add(socket);
      const key = remoteKeyOf(socket);
      const handshake = { generation: this.trustGeneration };
      this.handshakes.set(key, handshake);
      socket.once('close', () => {
        this.accepted.delete(socket);
        if (this.handshakes.get(key) === handshake) this.handshakes.delete(key);
      });
    });
  }

  async start(): Promise<void> {
    this.boundPort = await listenOn(
      this.tls,
      this.address,
      'peer listener (listen.peer)',
      this.onAcceptError,
    );
  }

  get port(): number {
    return this.boundPort;
  }

  /** Open HTTP/2 connections and opaque tunnels from other gateways. */
  get openConnections(): number {
    return this.sessions.size + this.tunnels.size;
  }

  /** New handshakes use the new material; established connections keep theirs. */
  updateTls(tls: TlsCredentials): void {
    this.tls.setSecureContext(tlsOptions(tls));
  }

  /**
   * The trust anchors changed to `anchors`. A connection whose caller's certificate no longer chains to
   * them is closed at once, opaque tunnels included; every other HTTP/2 connection gets GOAWAY (open
   * streams finish) and its peer reconnects under the new anchors; other tunnels keep their connections.
   * Handshakes under way are checked against `anchors` when they complete. Returns how many connections
   * were closed.
   */
  trustChanged(anchors: readonly X509Certificate[]): number {
    this.anchors = anchors;
    this.trustGeneration++;
    const keep = (socket: Duplex) => connectionStillAnchored(socket as TLSSocket, anchors);
    let closed = this.sessions.closeAll(keep);
    for (const tunnel of this.tunnels) {
      if (!keep(tunnel)) {
        cutConnection(tunnel);
        closed++;
      }
    }
    return closed;
  }

  /**
   * A handshake that began before the last trust change was verified under the anchors of then: it must
   * chain to those in force now too. Any other has been verified under them.
   */
  private stillAnchored(socket: TLSSocket): boolean {
    const key = remoteKeyOf(socket);
    const handshake = this.handshakes.get(key);
    this.handshakes.delete(key);
    if (handshake?.generation === this.trustGeneration) return true;
    return connectionStillAnchored(socket, this.anchors);
  }

  /** Stops accepting; every session gets GOAWAY and closes once its streams are done; tunnels finish. */
  drain(): void {
    this.draining = true;
    if (this.tls.listening) this.tls.close();
    this.sessions.closeAll();
  }

  destroy(): void {
    this.drain();
    this.sessions.destroyAll();
    // Tunnels, sessions and handshakes alike: a session drain() closed only ends its socket on destroy()
    // and waits for the caller's FIN, which a frozen caller never sends; a connection still in its
    // handshake belongs to nobody yet. A reset, so that a tunnel's far end sees it cut, not finished.
    for (const socket of this.accepted) cutConnection(socket);
  }
}

/** A connection's remote address and port: the same on the accepted TCP socket and its TLS socket. */
function remoteKeyOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}

/**
 * No session resumption: a resumed session skips the certificate checks, so a caller could come back
 * with a ticket after its certificate expired. Gateways never resume (their connections are few and
 * long-lived), so this costs them nothing.
 */
function tlsOptions(tls: TlsCredentials): SecureContextOptions & { minVersion: 'TLSv1.3' } {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.3',
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
  };
}
