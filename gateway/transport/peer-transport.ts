// Gateway-to-gateway transport: per peer gateway (cluster, replica, address) a pool of a few long-lived
// HTTP/2 connections over TLS 1.3 with client certificates. The dialling side accepts only a peer that
// proves `spiffe://<trustDomain>/cluster/<cluster>/gateway` for the cluster it meant to reach, whatever
// address discovery gave. Bodyless HTTP requests and gRPC calls ride lanes: long-lived CONNECT streams
// that each carry a keep-alive HTTP/1.1 connection (one request at a time, `weft-service` in the head,
// a gRPC call as a chunked POST with its status in chunked trailers), pooled per peer, because opening
// an HTTP/2 stream per request costs more in Node than the rest of the hop. Other requests with bodies
// are one HTTP/2 stream each; upgraded connections (WebSocket) are extended CONNECT streams (RFC 8441).
// Opaque TCP gets an mTLS connection per tunnel (opaque-tunnel.ts).
import type { ClientHttp2Stream, OutgoingHttpHeaders, SecureClientSessionOptions } from 'node:http2';
import type { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { GatewayError } from '../errors.js';
import {
  checkServerIdentityFor,
  connectionStillAnchored,
  gatewayDnsNameFor,
  parseCertificateBundle,
  peerChainsTo,
} from '../../infra/index.js';
import { formatHostPort, parseHostPort } from '../config/index.js';
import type { Exchange, ProxyRequest, ResponseSink } from '../upstream/exchange.js';
import { H2Exchange, h2RequestHeaders, hasBody } from '../upstream/h2-exchange.js';
import { H1Pool } from '../upstream/h1-pool.js';
import type { H1Connection } from '../upstream/h1-connection.js';
import { LANE_HEADER, SERVICE_HEADER } from '../routing/proxy-headers.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { H2Connection } from './h2-connection.js';
import { H2Pool, type H2PoolState } from './h2-pool.js';
import { dialOpaqueTunnel } from './opaque-tunnel.js';
import { cutConnection } from './cut-connection.js';
import { PingCancelled, pingHttp2Session } from '../health/http2-ping.js';

/** The gateway's own TLS credentials (PEM). A TlsMaterialSnapshot fits. */
export interface TlsCredentials {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface PeerTransportOptions {
  readonly trustDomain: string;
  readonly tls: TlsCredentials;
  readonly connectTimeoutMs?: number;
  readonly maxConnectionsPerPeer?: number;
  readonly backoff?: BackoffPolicy;
  /** Keep-alive ping period; also how often frozen peers are judged. */
  readonly pingIntervalMs?: number;
  /** An unanswered ping older than this makes the peer unavailable for new requests. */
  readonly pingTimeoutMs?: number;
  /** An unanswered ping older than this drops the peer's connections. */
  readonly deadAfterMs?: number;
  /** Lanes per peer gateway; requests that find every lane busy take an HTTP/2 stream of their own. */
  readonly maxLanesPerPeer?: number;
  /** Connection counts changed (metrics). */
  readonly onConnectionsChanged?: () => void;
}

export interface PeerState {
  readonly cluster: string;
  readonly gatewayId: string;
  readonly address: string;
  readonly connected: boolean;
  readonly connections: number;
  /** Open HTTP/2 streams, lanes included. */
  readonly streams: number;
  /** Lanes: open, idle, requests waiting for one. */
  readonly lanes: { readonly open: number; readonly idle: number; readonly queued: number };
  /** Open opaque TCP tunnels (one TLS connection each). */
  readonly tcpTunnels: number;
  readonly rttMs?: number;
  readonly available: boolean;
  readonly lastError?: string;
  readonly backoffMs?: number;
}

/**
 * Stream limit per peer connection, as every weft gateway's peer listener sets it (SETTINGS); the
 * dialling side assumes it before the SETTINGS arrive and opens another connection beyond it.
 */
export const PEER_MAX_CONCURRENT_STREAMS = 1000;

export const PEER_DEFAULTS = {
  connectTimeoutMs: 3_000,
  maxConnectionsPerPeer: 4,
  /** More connections while every one holds as many streams as the peer allows (1000 each, above). */
  overflowConnectionsPerPeer: 12,
  pingIntervalMs: 1_000,
  pingTimeoutMs: 1_000,
  deadAfterMs: 10_000,
  /** Idle lanes close after this; the receiving side waits longer, so the caller always closes first. */
  laneIdleTimeoutMs: 30_000,
  maxLanesPerPeer: 1024,
} as const;

const NO_LONGER_ANCHORED = "the peer's certificate no longer chains to a trust anchor in tls.ca";

/** The CONNECT request that opens a lane. */
const LANE_REQUEST = {
  ':method': 'CONNECT',
  ':authority': 'lane.weft:0',
  [LANE_HEADER]: 'http/1.1',
} as const;
const kLaneConnection = Symbol('weft.lane.h2');
type LaneStream = ClientHttp2Stream & { [kLaneConnection]?: H2Connection };

/** Where and how opaque TCP tunnels to one peer gateway are dialled. */
interface TunnelTarget {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  tls(): SecureClientSessionOptions;
  classify(err: Error): GatewayError;
}

export class PeerGateway {
  readonly key: string;
  readonly cluster: string;
  readonly gatewayId: string;
  readonly address: string;
  readonly pool: H2Pool;
  readonly lanes: H1Pool;
  private readonly tunnelTarget: TunnelTarget | undefined;
  /** Opaque TCP tunnels dialled and not yet closed (one TLS connection each). */
  private readonly tunnels = new Set<TLSSocket>();

  constructor(
    key: string,
    cluster: string,
    gatewayId: string,
    address: string,
    pool: H2Pool,
    connectTimeoutMs: number,
    maxLanes: number,
    tunnelTarget: TunnelTarget | undefined,
  ) {
    this.key = key;
    this.cluster = cluster;
    this.gatewayId = gatewayId;
    this.address = address;
    this.pool = pool;
    this.tunnelTarget = tunnelTarget;
    this.lanes = new H1Pool({
      describe: `lane to ${pool.describe}`,
      dial: (connection) => this.openLane(connection),
      connectTimeoutMs,
      idleTimeoutMs: PEER_DEFAULTS.laneIdleTimeoutMs,
      maxConnections: maxLanes,
      maxQueued: 4 * maxLanes,
      classifyError: (connection, err) => {
        const lane = connection.socket as LaneStream;
        return lane[kLaneConnection]?.streamError(err, lane);
      },
      reusable: (connection) => (connection.socket as LaneStream)[kLaneConnection]?.state === 'ready',
    });
  }

  /** Not in connect backoff and answering pings (a field read). */
  get available(): boolean {
    return this.pool.available;
  }

  /**
   * Forwards an HTTP request for `service` (name.namespace) to this peer gateway: on a lane when it
   * has no body or is a gRPC call and a lane is free or may be opened, else on a stream of its own. Not
   * queued for a lane: a lane is held for a whole call, and calls that hold every lane (event streams,
   * long polls, gRPC watches) may never give one back.
   */
  dispatch(request: ProxyRequest, service: string, sink: ResponseSink): Exchange | undefined {
    if ((request.bodyLength === 0 || request.grpc) && this.lanes.hasRoom) {
      request.headers[SERVICE_HEADER] = service;
      return this.lanes.dispatch(request, sink);
    }
    const connection = this.pool.acquire();
    if (connection instanceof GatewayError) {
      sink.fail(connection);
      return undefined;
    }
    const headers = h2RequestHeaders(request);
    headers[SERVICE_HEADER] = service;
    const stream = connection.request(headers, !hasBody(request));
    if (stream instanceof GatewayError) {
      sink.fail(stream);
      return undefined;
    }
    return new H2Exchange(stream, connection, request, sink);
  }

  /**
   * An HTTP/2 PING over a ready connection of the pool (opened if need be): the round trip in ms.
   *
   * A ping whose connection goes away before the answer (PingCancelled: the peer retired it gracefully,
   * on a trust change or a drain) is asked again on another connection, within the same `signal`: a
   * graceful close is no failed probe, while a peer that is gone still fails (its new connection is
   * refused or unanswered).
   */
  ping(signal: AbortSignal): Promise<number> {
    return this.pingOnce(signal).catch((err: unknown) => {
      if (!(err instanceof PingCancelled) || signal.aborted) throw err;
      return this.pingOnce(signal);
    });
  }

  private pingOnce(signal: AbortSignal): Promise<number> {
    return new Promise<H2Connection>((resolve, reject) => {
      const onAbort = () => reject(new Error('ping aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      this.pool.acquireForPing((connection) => {
        signal.removeEventListener('abort', onAbort);
        if (connection instanceof GatewayError) reject(connection);
        else resolve(connection);
      });
    }).then((connection) => pingHttp2Session(connection.session, signal));
  }

  /** Opens a CONNECT stream once a connection is ready (extended CONNECT needs the peer's SETTINGS). */
  openTunnel(
    headers: OutgoingHttpHeaders,
    callback: (stream: ClientHttp2Stream | GatewayError, connection?: H2Connection) => void,
  ): void {
    this.pool.acquireReady((connection) => {
      if (connection instanceof GatewayError) {
        callback(connection);
        return;
      }
      const stream = connection.request(headers, false);
      if (stream instanceof GatewayError) callback(stream);
      else callback(stream, connection);
    });
  }

  private openLane(lane: H1Connection): LaneStream | GatewayError {
    const connection = this.pool.acquire();
    if (connection instanceof GatewayError) return connection;
    const stream: LaneStream | GatewayError = connection.request({ ...LANE_REQUEST }, false);
    if (stream instanceof GatewayError) return stream;
    stream[kLaneConnection] = connection;
    stream.once('response', (headers) => {
      const status = Number(headers[':status']);
      if (status === 200) lane.onConnect();
      else stream.destroy(new Error(`${this.pool.describe} refused a lane (HTTP ${status})`));
    });
    return stream;
  }

  /**
   * Opens an opaque TCP tunnel to `service` on this peer: its own mTLS connection (see
   * opaque-tunnel.ts). `callback` gets the socket once the peer accepted, paused, or the refusal.
   */
  openTcpTunnel(service: string, callback: (socket: TLSSocket | GatewayError) => void): void {
    const target = this.tunnelTarget;
    if (!target) {
      callback(new GatewayError('UPSTREAM_CONNECT', `peer gateway ${this.key} has no valid address`));
      return;
    }
    const socket = dialOpaqueTunnel(
      {
        host: target.host,
        port: target.port,
        tls: target.tls(),
        service,
        timeoutMs: target.connectTimeoutMs,
        describe: this.pool.describe,
        classify: (err) => target.classify(err),
      },
      callback,
    );
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
  }

  /**
   * See PeerTransport.trustChanged: connections (and established tunnels) whose socket `keep` refuses
   * are closed now, the other connections replaced. Returns how many were closed.
   */
  trustChanged(keep: (socket: TLSSocket) => boolean): number {
    let closed = this.pool.recycle(
      (socket) => keep(socket as TLSSocket),
      new GatewayError('UPSTREAM_RESET', `${this.pool.describe}: ${NO_LONGER_ANCHORED}`),
    );
    for (const tunnel of this.tunnels) {
      if (tunnel.authorized && !keep(tunnel)) {
        cutConnection(tunnel);
        closed++;
      }
    }
    return closed;
  }

  /** No connection and no tunnel left. */
  get idle(): boolean {
    return this.pool.idle && this.tunnels.size === 0;
  }

  /** Stops using this peer: idle lanes and connections close, busy ones finish. */
  close(): void {
    this.lanes.close();
    this.pool.close();
  }

  destroy(): void {
    this.lanes.destroy();
    this.pool.destroy();
  }

  sweep(nowMs: number): void {
    this.lanes.sweep(nowMs);
  }

  state(): PeerState {
    const pool: H2PoolState = this.pool.state();
    return {
      cluster: this.cluster,
      gatewayId: this.gatewayId,
      address: this.address,
      connected: pool.connected > 0,
      connections: pool.connections,
      streams: pool.streams,
      lanes: this.lanes.stats,
      tcpTunnels: this.tunnels.size,
      ...(pool.rttMs === undefined ? {} : { rttMs: pool.rttMs }),
      available: pool.available,
      ...(pool.lastError === undefined ? {} : { lastError: pool.lastError }),
      ...(pool.backoffMs === undefined ? {} : { backoffMs: pool.backoffMs }),
    };
  }
}

export class PeerTransport {
  private readonly options: PeerTransportOptions;
  private readonly peers = new Map<string, PeerGateway>();
  /** Peers that left the fabric with connections or tunnels still open (see retain). */
  private readonly departed = new Set<PeerGateway>();
  private tls: TlsCredentials;
  /** The trust anchors in force (tls.ca, then what the last trust change put in force). */
  private anchors: readonly X509Certificate[];
  /** Counts trust changes: a dial remembers the one it began under. */
  private trustGeneration = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: PeerTransportOptions) {
    this.options = options;
    this.tls = options.tls;
    this.anchors = parseCertificateBundle(options.tls.ca.toString('latin1'));
  }

  start(): void {
    const intervalMs = this.options.pingIntervalMs ?? PEER_DEFAULTS.pingIntervalMs;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const peer of this.peers.values()) {
        peer.pool.tick();
        peer.sweep(now);
      }
      for (const peer of this.departed) if (peer.idle) this.departed.delete(peer);
    }, intervalMs);
    this.timer.unref();
  }

  /** The pool for one peer gateway, created on first use. `address` is host:port from discovery. */
  gateway(cluster: string, gatewayId: string, address: string): PeerGateway {
    const key = peerKey(cluster, gatewayId, address);
    const existing = this.peers.get(key);
    if (existing) return existing;
    const parsed = parseHostPort(address);
    const authority = parsed ? `https://${formatHostPort(parsed)}` : 'https://invalid.invalid:1';
    const trustDomain = this.options.trustDomain;
    const identity = { trustDomain, cluster };
    const checkIdentity = checkServerIdentityFor(identity);
    const servername = gatewayDnsNameFor(trustDomain, cluster);
    const describe = `peer gateway ${cluster}/${gatewayId} at ${address}`;
    const tls = (): SecureClientSessionOptions => {
      const dialledUnder = this.trustGeneration;
      return {
        ca: this.tls.ca,
        cert: this.tls.cert,
        key: this.tls.key,
        minVersion: 'TLSv1.3',
        servername,
        checkServerIdentity: (hostname, cert) =>
          checkIdentity(hostname, cert) ?? this.untrustedSince(dialledUnder, cert),
      };
    };
    const connectTimeoutMs = this.options.connectTimeoutMs ?? PEER_DEFAULTS.connectTimeoutMs;
    const classify = (err: Error) => classifyPeerError(describe, err);
    const pool = new H2Pool({
      authority,
      describe,
      tls,
      connectTimeoutMs,
      maxConnections: this.options.maxConnectionsPerPeer ?? PEER_DEFAULTS.maxConnectionsPerPeer,
      overflowConnections: PEER_DEFAULTS.overflowConnectionsPerPeer,
      backoff: this.options.backoff ?? DEFAULT_BACKOFF,
      pingTimeoutMs: this.options.pingTimeoutMs ?? PEER_DEFAULTS.pingTimeoutMs,
      deadAfterMs: this.options.deadAfterMs ?? PEER_DEFAULTS.deadAfterMs,
      classifyConnectError: classify,
      assumedMaxStreams: PEER_MAX_CONCURRENT_STREAMS,
      ...(this.options.onConnectionsChanged
        ? { onConnectionsChanged: this.options.onConnectionsChanged }
        : {}),
    });
    const peer = new PeerGateway(
      key,
      cluster,
      gatewayId,
      address,
      pool,
      connectTimeoutMs,
      this.options.maxLanesPerPeer ?? PEER_DEFAULTS.maxLanesPerPeer,
      parsed ? { host: parsed.host, port: parsed.port, connectTimeoutMs, tls, classify } : undefined,
    );
    if (!parsed || this.closed) peer.destroy();
    else this.peers.set(key, peer);
    return peer;
  }

  /**
   * An HTTP/2 PING to one peer gateway (PeerGateway.ping): resolves the round trip in ms; rejects when the
   * peer is unknown, cannot be connected, or `signal` aborts.
   */
  ping(key: string, signal: AbortSignal): Promise<number> {
    const peer = this.peers.get(key);
    if (!peer) return Promise.reject(new Error(`no transport to peer gateway ${key}`));
    return peer.ping(signal);
  }

  /**
   * Drops every connection to one peer gateway now: its in-flight streams fail (UPSTREAM_RESET). `why`
   * (the probes' last failure: no answer, a refused connection, a wrong identity) stays in the pool's
   * last error, which calls during the reconnect backoff and the admin API show.
   */
  disconnect(key: string, why: string): void {
    this.peers
      .get(key)
      ?.pool.dropConnections(new GatewayError('UPSTREAM_RESET', `${key}: stopped answering probes (${why})`));
  }

  /**
   * Closes the pools of peer gateways no longer in the fabric (their open streams finish first). Those
   * still carrying something stay in `departed` until they are idle, for trust changes and destroy().
   */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, peer] of this.peers) {
      if (!keys.has(key)) {
        peer.close();
        this.peers.delete(key);
        if (!peer.idle) this.departed.add(peer);
      }
    }
  }

  /** New connections use the new credentials; established ones keep their session. */
  updateTls(tls: TlsCredentials): void {
    this.tls = tls;
  }

  /**
   * The trust anchors changed to `anchors`. A connection whose peer's certificate no longer chains to
   * them is closed at once, opaque tunnels included, also to peers that have left the fabric; every other
   * HTTP/2 connection is retired (no new streams; open streams, lanes busy with a request and upgrade
   * tunnels finish on it, then it closes) and new ones verify each peer again. Dials under way are checked
   * against `anchors` when their handshake completes. Returns how many connections were closed.
   */
  trustChanged(anchors: readonly X509Certificate[]): number {
    this.anchors = anchors;
    this.trustGeneration++;
    const keep = (socket: TLSSocket) => connectionStillAnchored(socket, anchors);
    let closed = 0;
    for (const peer of [...this.peers.values(), ...this.departed]) closed += peer.trustChanged(keep);
    return closed;
  }

  /**
   * For a handshake begun under trust generation `dialledUnder`: undefined while that is still the one in
   * force, else an error unless the peer's certificate chains to the anchors now in force.
   */
  private untrustedSince(dialledUnder: number, cert: PeerCertificate): Error | undefined {
    if (dialledUnder === this.trustGeneration) return undefined;
    if (peerChainsTo(cert as DetailedPeerCertificate, this.anchors)) return undefined;
    return new Error(NO_LONGER_ANCHORED);
  }

  state(): PeerState[] {
    return [...this.peers.values()].map((peer) => peer.state());
  }

  /** Connection counts per peer cluster: [cluster, connected, connecting]. */
  connectionCounts(): Map<string, { connected: number; connecting: number }> {
    const counts = new Map<string, { connected: number; connecting: number }>();
    for (const peer of this.peers.values()) {
      const entry = counts.get(peer.cluster) ?? { connected: 0, connecting: 0 };
      entry.connected += peer.pool.connectedCount;
      entry.connecting += peer.pool.connectingCount;
      counts.set(peer.cluster, entry);
    }
    return counts;
  }

  get openStreams(): number {
    let streams = 0;
    for (const peer of this.peers.values()) streams += peer.pool.openStreams;
    return streams;
  }

  /** GOAWAY everywhere; in-flight streams finish. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const peer of this.peers.values()) peer.close();
  }

  destroy(): void {
    this.close();
    for (const peer of [...this.peers.values(), ...this.departed]) peer.destroy();
    this.peers.clear();
    this.departed.clear();
  }
}

export function peerKey(cluster: string, gatewayId: string, address: string): string {
  return `${cluster}/${gatewayId}@${address}`;
}

/** A failed identity check is PEER_IDENTITY; any other TLS or socket failure is a connect failure. */
function classifyPeerError(describe: string, err: Error): GatewayError {
  if ((err as { code?: unknown }).code === 'PEER_IDENTITY') {
    return new GatewayError('PEER_IDENTITY', `${describe}: ${err.message}`, { cause: err });
  }
  return new GatewayError('UPSTREAM_CONNECT', `${describe}: ${err.message}`, { cause: err });
}
