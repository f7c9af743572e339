// The admin HTTP listener (listen.admin): serves the hono app from admin-app.ts on node:http.
// Lifecycle: construct (no side effects) → start() (binds; rejects with LISTEN_FAILED on bind errors)
// → close() (stops accepting, drops keep-alive connections). Both are idempotent and safe in any order.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FabricView, LeaseLookup, RedisConfig } from '../../discovery/index.js';
import type { LocalCatalog } from '../catalog/index.js';
import type { HostPort } from '../config/index.js';
import { listenError } from '../listen-error.js';
import {
  FabricEvents,
  FabricStats,
  registerGoldenMetrics,
  type GoldenMetrics,
} from '../observability/index.js';
import { buildAdminApp } from './admin-app.js';
import type { GatewayIdentity } from './api-types.js';
import { registerProcessMetrics } from './process-metrics.js';

export interface AdminServerOptions {
  readonly listen: HostPort;
  /** The gateway's metrics registry; process metrics (RSS, heap, event loop) are added to it once. */
  readonly metrics: Registry;
  /** /readyz answers 200 while this returns true (discovery has synced, not draining). */
  readonly ready: () => boolean;
  /** /healthz answers 200 while this returns true (the process is alive and its loops run). */
  readonly health: () => boolean;
  readonly view: FabricView;
  readonly catalog: LocalCatalog;
  /** Discovery's status report, shown under /api/v1/discovery `status`. */
  readonly discoveryStatus: () => unknown;
  /**
   * Live lease ends (pass `(cluster, id) => discovery.leaseOf(cluster, id)`): snapshots are not
   * rebuilt on lease renewals, so without it lease countdowns show the snapshot's, frozen, values.
   */
  readonly leaseOf?: LeaseLookup;
  /** The data plane's state (`routes`, `endpoints`, …); without it routes are empty, endpoints from the catalog. */
  readonly dataPlaneState?: () => unknown;
  /**
   * The data plane's peer gateways (DataPlane.peerStates()), read for every stats record; without it
   * they come from dataPlaneState, which builds the whole route state to get them.
   */
  readonly peerStates?: () => unknown;
  readonly identity: GatewayIdentity;
  /** Clock for ages and lease countdowns; Date.now by default. */
  readonly now?: () => number;
  /**
   * The golden metrics the data plane records into: served at /api/v1/golden, on the dashboard, in this
   * gateway's stats record and as weft_edge_* gauges in /metrics. Without it no edges are shown.
   */
  readonly golden?: GoldenMetrics;
  /**
   * The fabric's Redis: this gateway's stats record (edges, peer links, events) is published there every
   * statsPublishIntervalMs and the other gateways' records are read from there for the fabric-wide view.
   * Without it the dashboard shows what this gateway alone sees.
   */
  readonly redis?: RedisConfig;
  /** Default 2000 ms. */
  readonly statsPublishIntervalMs?: number;
  /** Interval of the dashboard's live updates (/api/v1/events). Default 1000 ms. */
  readonly dashboardPushIntervalMs?: number;
  /** Dashboard event streams at once (default 32); one more is answered 503. */
  readonly maxEventStreams?: number;
  /** Where the stats record logs its publish errors, and the default `events` their cluster events. */
  readonly logger?: Logger;
  /**
   * The fabric events to show and publish, fed with the failover policies' decisions (report()); default:
   * the cluster and discovery events the admin server sees itself. Started and closed with the admin
   * server either way (idempotent).
   */
  readonly events?: FabricEvents;
}

/** Concurrent dashboard event streams per gateway. */
const MAX_EVENT_STREAMS = 32;

export class AdminServer {
  private readonly options: AdminServerOptions;
  private server: Server | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly closed = new AbortController();
  /** The fabric events this gateway shows and publishes (started and closed with the server). */
  readonly events: FabricEvents;
  /** This gateway's stats record: published to Redis, and the other gateways' records read back. */
  readonly stats: FabricStats;

  constructor(options: AdminServerOptions) {
    this.options = options;
    const observer = `${options.identity.cluster}/${options.identity.gatewayId}`;
    this.events =
      options.events ??
      new FabricEvents({ view: options.view, observer, now: options.now, logger: options.logger });
    this.stats = new FabricStats({
      redis: options.redis,
      cluster: options.identity.cluster,
      gatewayId: options.identity.gatewayId,
      golden: options.golden,
      events: this.events,
      peers:
        options.peerStates ?? (() => (options.dataPlaneState?.() as { peers?: unknown } | undefined)?.peers),
      publishIntervalMs: options.statsPublishIntervalMs,
      logger: options.logger,
    });
  }

  /** Binds the listener. Rejects with GatewayError LISTEN_FAILED (e.g. EADDRINUSE) and stays closed. */
  start(): Promise<void> {
    this.starting ??= this.bind();
    return this.starting;
  }

  /** The bound address (port resolved when listen.port was 0). Throws before start() resolved. */
  address(): HostPort {
    const info = this.server?.address() as AddressInfo | null | undefined;
    if (!info) throw new Error('AdminServer is not listening');
    return { host: info.address, port: info.port };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async bind(): Promise<void> {
    const { options } = this;
    registerProcessMetrics(options.metrics);
    if (options.golden) registerGoldenMetrics(options.metrics, options.golden);
    const app = buildAdminApp({
      ...options,
      now: options.now ?? Date.now,
      fabric: {
        events: this.events,
        stats: this.stats,
        pushIntervalMs: options.dashboardPushIntervalMs ?? 1000,
        maxStreams: options.maxEventStreams ?? MAX_EVENT_STREAMS,
        closed: this.closed.signal,
      },
    });
    const server = createServer(getRequestListener(app.fetch));
    server.keepAliveTimeout = 5_000;
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', (err) => reject(listenError('admin API (listen.admin)', options.listen, err)));
      server.listen({ host: options.listen.host, port: options.listen.port, exclusive: true }, () => {
        server.removeAllListeners('error');
        // After binding, socket-level errors are per connection; never let one escape as 'error'.
        server.on('error', () => {});
        resolveListen();
      });
    });
    if (this.closing) {
      await new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      return;
    }
    this.server = server;
    this.events.start();
    this.stats.start();
  }

  private async shutdown(): Promise<void> {
    this.closed.abort();
    this.events.close();
    await this.starting?.catch(() => {});
    await this.stats.close();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolveClose) => {
      server.close(() => resolveClose());
      server.closeAllConnections();
    });
  }
}
