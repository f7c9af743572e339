// The mTLS listener other gateways dial: TLS 1.3 only, a client certificate from the fabric's trust
// anchor required, ALPN h2 only, extended CONNECT enabled (RFC 8441) for upgrade tunnels. Each session
// learns its caller's cluster once, from the certificate's SPIFFE ID; a certificate that proves no
// gateway of this trust domain ends the session before any stream is served. Reloaded TLS material
// applies to new handshakes only; established sessions continue.
import {
  constants,
  createSecureServer,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { callerIdentityOf } from '../../infra/index.js';
import type { HostPort } from '../config/index.js';
import { listenError } from '../listen-error.js';
import { STREAM_WINDOW_BYTES } from '../transport/h2-connection.js';
import type { TlsCredentials } from '../transport/peer-transport.js';
import type { RequestMetrics } from './request-metrics.js';

export type PeerStreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  caller: string,
) => void;

const kCaller = Symbol('weft.peer.caller');
type PeerSession = ServerHttp2Session & { [kCaller]?: string };

/** Stream limit per peer connection; the dialling side opens another connection beyond it. */
export const PEER_MAX_CONCURRENT_STREAMS = 1000;

export class PeerListener {
  readonly address: HostPort;
  private readonly server: Http2SecureServer;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly metrics: RequestMetrics;
  private readonly onRefused: (message: string) => void;
  private boundPort = 0;
  private draining = false;

  constructor(options: {
    address: HostPort;
    trustDomain: string;
    tls: TlsCredentials;
    metrics: RequestMetrics;
    onStream: PeerStreamHandler;
    /** A caller was refused at the session level (bad identity); for logging. */
    onRefused: (message: string) => void;
  }) {
    this.address = options.address;
    this.metrics = options.metrics;
    this.onRefused = options.onRefused;
    const trustDomain = options.trustDomain;
    this.server = createSecureServer({
      ...tlsOptions(options.tls),
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
      settings: {
        enableConnectProtocol: true,
        initialWindowSize: STREAM_WINDOW_BYTES,
        maxConcurrentStreams: PEER_MAX_CONCURRENT_STREAMS,
      },
      maxSessionMemory: 64,
    });
    this.server.on('session', (session: PeerSession) => {
      const socket = session.socket as TLSSocket;
      const caller = callerIdentityOf(socket.getPeerCertificate(), trustDomain);
      if (caller instanceof Error) {
        this.onRefused(caller.message);
        session.destroy();
        return;
      }
      session[kCaller] = caller.cluster;
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => session.destroy());
      if (this.draining) session.close();
    });
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => {
      const caller = (stream.session as PeerSession | undefined)?.[kCaller];
      if (caller === undefined) {
        stream.on('error', () => undefined); // closing with an error code reports it on the stream
        stream.close(constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      options.onStream(stream, headers, flags, caller);
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      this.metrics.openConnections.inc({ listener: 'peer' });
      socket.once('close', () => {
        this.metrics.openConnections.dec({ listener: 'peer' });
        this.metrics.countBytes('peer', socket.bytesRead, socket.bytesWritten);
      });
    });
    this.server.on('tlsClientError', (err: Error) => this.onRefused(`TLS handshake refused: ${err.message}`));
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(listenError('peer listener (listen.peer)', this.address, err));
      this.server.once('error', onError);
      this.server.listen({ host: this.address.host, port: this.address.port, exclusive: true }, () => {
        this.server.removeListener('error', onError);
        const bound = this.server.address();
        this.boundPort = typeof bound === 'object' && bound ? bound.port : this.address.port;
        resolve();
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get openConnections(): number {
    return this.sessions.size;
  }

  /** New handshakes use the new material; established sessions keep theirs. */
  updateTls(tls: TlsCredentials): void {
    this.server.setSecureContext(tlsOptions(tls));
  }

  /** Stops accepting; every session gets GOAWAY and closes once its streams are done. */
  drain(): void {
    this.draining = true;
    if (this.server.listening) this.server.close();
    for (const session of this.sessions) session.close();
  }

  destroy(): void {
    this.drain();
    for (const session of this.sessions) session.destroy();
  }
}

function tlsOptions(tls: TlsCredentials): { ca: Buffer; cert: Buffer; key: Buffer; minVersion: 'TLSv1.3' } {
  return { ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.3' };
}
