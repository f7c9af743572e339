// The admin HTTP listener (listen.admin): serves the hono app from admin-app.ts on node:http.
// Lifecycle: construct (no side effects) → start() (binds; rejects with LISTEN_FAILED on bind errors)
// → close() (stops accepting, drops keep-alive connections). Both are idempotent and safe in any order.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Registry } from 'prom-client';
import type { FabricView } from '../../discovery/index.js';
import type { LocalCatalog } from '../catalog/index.js';
import type { HostPort } from '../config/index.js';
import { listenError } from '../listen-error.js';
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
  /** The data plane's state (`routes`, `endpoints`, …); without it routes are empty, endpoints from the catalog. */
  readonly dataPlaneState?: () => unknown;
  readonly identity: GatewayIdentity;
  /** Clock for ages and lease countdowns; Date.now by default. */
  readonly now?: () => number;
}

export class AdminServer {
  private readonly options: AdminServerOptions;
  private server: Server | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    this.options = options;
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
    const app = buildAdminApp({ ...options, now: options.now ?? Date.now });
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
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => {});
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolveClose) => {
      server.close(() => resolveClose());
      server.closeAllConnections();
    });
  }
}
