// Connection pools to this cluster's endpoints, one per endpoint and protocol: keep-alive HTTP/1.1 for
// `http` services, one multiplexed h2c connection for `grpc` services. Pools are created on first use
// and dropped when their endpoint leaves the catalog; idle HTTP/1.1 connections are swept once a second.
import { connect } from 'node:net';
import { GatewayError } from '../errors.js';
import type { Protocol } from '../../discovery/index.js';
import type { LocalEndpoint } from '../catalog/index.js';
import { formatHostPort } from '../config/index.js';
import { DEFAULT_BACKOFF } from '../transport/backoff.js';
import { H2Pool } from '../transport/h2-pool.js';
import { TCP_KEEPALIVE } from '../transport/tcp-keepalive.js';
import type { Exchange, ProxyRequest, ResponseSink } from './exchange.js';
import { H1Pool } from './h1-pool.js';
import { H2Exchange, h2RequestHeaders, hasBody } from './h2-exchange.js';

export interface LocalUpstreamOptions {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnectionsPerEndpoint: number;
  readonly maxQueuedPerEndpoint: number;
}

export const LOCAL_UPSTREAM_DEFAULTS: LocalUpstreamOptions = {
  connectTimeoutMs: 2_000,
  idleTimeoutMs: 4_000,
  maxConnectionsPerEndpoint: 1024,
  maxQueuedPerEndpoint: 4096,
};

const SWEEP_INTERVAL_MS = 1_000;

export class LocalUpstreams {
  private readonly options: LocalUpstreamOptions;
  private readonly h1 = new Map<string, H1Pool>();
  private readonly h2 = new Map<string, H2Pool>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: LocalUpstreamOptions = LOCAL_UPSTREAM_DEFAULTS) {
    this.options = options;
  }

  start(): void {
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Sends `request` to one endpoint of a local service; the answer goes to `sink`. */
  dispatch(
    protocol: Protocol,
    endpoint: LocalEndpoint,
    request: ProxyRequest,
    sink: ResponseSink,
  ): Exchange | undefined {
    if (this.closed) {
      sink.fail(new GatewayError('UPSTREAM_CONNECT', 'the gateway is shutting down'));
      return undefined;
    }
    if (protocol === 'grpc') return this.dispatchH2(endpoint, request, sink);
    return this.h1Pool(endpoint).dispatch(request, sink);
  }

  /** Whether there is a pool for the endpoint (`key`: as formatHostPort writes it). */
  has(key: string): boolean {
    return this.h1.has(key) || this.h2.has(key);
  }

  /** Drops pools of endpoints that are no longer in the catalog (`keys`: as formatHostPort writes them). */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, pool] of this.h1) {
      if (!keys.has(key)) {
        pool.close();
        this.h1.delete(key);
      }
    }
    for (const [key, pool] of this.h2) {
      if (!keys.has(key)) {
        pool.close();
        this.h2.delete(key);
      }
    }
  }

  stats(): { endpoint: string; protocol: 'http' | 'grpc'; open: number; idle?: number; streams?: number }[] {
    const out: {
      endpoint: string;
      protocol: 'http' | 'grpc';
      open: number;
      idle?: number;
      streams?: number;
    }[] = [];
    for (const [endpoint, pool] of this.h1) {
      const s = pool.stats;
      out.push({ endpoint, protocol: 'http', open: s.open, idle: s.idle });
    }
    for (const [endpoint, pool] of this.h2) {
      const s = pool.state();
      out.push({ endpoint, protocol: 'grpc', open: s.connections, streams: s.streams });
    }
    return out;
  }

  /** Idle connections close now; busy ones after their exchange. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const pool of this.h1.values()) pool.close();
    for (const pool of this.h2.values()) pool.close();
  }

  destroy(): void {
    this.close();
    for (const pool of this.h1.values()) pool.destroy();
    for (const pool of this.h2.values()) pool.destroy();
    this.h1.clear();
    this.h2.clear();
  }

  private dispatchH2(
    endpoint: LocalEndpoint,
    request: ProxyRequest,
    sink: ResponseSink,
  ): Exchange | undefined {
    const pool = this.h2Pool(endpoint);
    const connection = pool.acquire();
    if (connection instanceof GatewayError) {
      sink.fail(connection);
      return undefined;
    }
    const stream = connection.request(h2RequestHeaders(request), !hasBody(request));
    if (stream instanceof GatewayError) {
      sink.fail(stream);
      return undefined;
    }
    return new H2Exchange(stream, connection, request, sink);
  }

  private h1Pool(endpoint: LocalEndpoint): H1Pool {
    const key = formatHostPort(endpoint);
    let pool = this.h1.get(key);
    if (!pool) {
      const { host, port } = endpoint;
      pool = new H1Pool({
        describe: key,
        dial: (connection) => {
          const socket = connect({ host, port, noDelay: true, ...TCP_KEEPALIVE });
          socket.once('connect', () => connection.onConnect());
          return socket;
        },
        connectTimeoutMs: this.options.connectTimeoutMs,
        idleTimeoutMs: this.options.idleTimeoutMs,
        maxConnections: this.options.maxConnectionsPerEndpoint,
        maxQueued: this.options.maxQueuedPerEndpoint,
      });
      this.h1.set(key, pool);
    }
    return pool;
  }

  private h2Pool(endpoint: LocalEndpoint): H2Pool {
    const key = formatHostPort(endpoint);
    let pool = this.h2.get(key);
    if (!pool) {
      pool = new H2Pool({
        authority: `http://${key}`,
        describe: `endpoint ${key}`,
        connectTimeoutMs: this.options.connectTimeoutMs,
        maxConnections: 4,
        // An endpoint may allow few streams per connection (Kestrel: 100), and long calls hold theirs.
        overflowConnections: 60,
        backoff: { baseMs: 50, maxMs: Math.min(DEFAULT_BACKOFF.maxMs, 1_000) },
        pingTimeoutMs: 5_000,
        deadAfterMs: 30_000,
      });
      this.h2.set(key, pool);
    }
    return pool;
  }

  /**
   * Idle HTTP/1.1 connections close here. HTTP/2 connections to endpoints get no keep-alive pings (no
   * tick(), unlike peer pools): gRPC servers count frequent pings as abuse and answer GOAWAY
   * ENHANCE_YOUR_CALM (grpc-go allows one per 5 minutes by default). A dead endpoint shows in its health
   * checks and its failed streams instead.
   */
  private sweep(): void {
    const now = Date.now();
    for (const pool of this.h1.values()) pool.sweep(now);
  }
}
