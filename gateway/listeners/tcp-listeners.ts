// The `tcp:` listeners of the config: one plain TCP port per entry, each bound to one service. A
// config reload rebuilds only what changed: new entries start listening, removed ones stop accepting
// (their open tunnels finish), unchanged ones keep their socket. Connections are half-open capable so a
// client's half-close travels end to end.
import { createServer, type Server, type Socket } from 'node:net';
import { formatHostPort, type HostPort } from '../config/index.js';
import { GatewayError } from '../errors.js';
import { listenOn, type AcceptErrorHandler } from '../listen-error.js';
import { TCP_KEEPALIVE } from '../transport/tcp-keepalive.js';
import type { RequestMetrics } from './request-metrics.js';
import { cutConnection } from '../transport/cut-connection.js';

export interface TcpListenerConfig {
  readonly listen: HostPort;
  readonly service: string;
}

interface Bound {
  readonly config: TcpListenerConfig;
  readonly server: Server;
}

export class TcpListeners {
  private readonly bound = new Map<string, Bound>();
  private readonly sockets = new Set<Socket>();
  private readonly metrics: RequestMetrics;
  private readonly onConnection: (socket: Socket, service: string) => void;
  private readonly onAcceptError: AcceptErrorHandler;

  constructor(
    metrics: RequestMetrics,
    onConnection: (socket: Socket, service: string) => void,
    onAcceptError: AcceptErrorHandler,
  ) {
    this.metrics = metrics;
    this.onConnection = onConnection;
    this.onAcceptError = onAcceptError;
  }

  /**
   * Makes the listening set equal `configs`: entries no longer configured stop accepting first (so a
   * port can move to another service), then new entries bind. A bind failure closes what this call
   * opened, listens again where this call stopped, and rejects with LISTEN_FAILED: a rejected reload
   * leaves the listeners as they were.
   */
  async apply(configs: readonly TcpListenerConfig[]): Promise<void> {
    const wanted = new Map(configs.map((c) => [keyOf(c), c]));
    const stopped: { config: TcpListenerConfig; port: number }[] = [];
    for (const [key, entry] of this.bound) {
      if (!wanted.has(key)) {
        stopped.push({ config: entry.config, port: boundPort(entry) });
        entry.server.close();
        this.bound.delete(key);
      }
    }
    const opened: Bound[] = [];
    try {
      for (const [key, config] of wanted) {
        if (this.bound.has(key)) continue;
        opened.push(await this.listen(config));
      }
    } catch (err) {
      for (const entry of opened) entry.server.close();
      throw await this.restore(stopped, err as Error);
    }
    for (const entry of opened) this.bound.set(keyOf(entry.config), entry);
  }

  /**
   * Listens again where a failed apply stopped (on the port each had, also when the config asked for
   * port 0); returns the error to report: `cause`, plus any listener that could not come back.
   */
  private async restore(
    stopped: readonly { config: TcpListenerConfig; port: number }[],
    cause: Error,
  ): Promise<Error> {
    const lost: string[] = [];
    for (const { config, port } of stopped) {
      try {
        const entry = await this.listen(config, port);
        this.bound.set(keyOf(config), entry);
      } catch {
        lost.push(keyOf(config));
      }
    }
    if (lost.length === 0) return cause;
    return new GatewayError(
      'LISTEN_FAILED',
      `${cause.message}; the listeners ${lost.join(', ')} could not listen again and are closed: ` +
        'fix the config and reload, or restart the gateway',
      { cause },
    );
  }

  ports(): { listen: string; service: string; port: number }[] {
    return [...this.bound.values()].map((entry) => ({
      listen: formatHostPort(entry.config.listen),
      service: entry.config.service,
      port: boundPort(entry),
    }));
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Stops accepting on every port; open tunnels continue. */
  drain(): void {
    for (const entry of this.bound.values()) if (entry.server.listening) entry.server.close();
    this.bound.clear();
  }

  /** Cuts the tunnels still open (a reset: neither party may take a cut tunnel for a finished one). */
  destroy(): void {
    this.drain();
    for (const socket of this.sockets) cutConnection(socket);
  }

  private async listen(config: TcpListenerConfig, port = config.listen.port): Promise<Bound> {
    const server = createServer(
      { allowHalfOpen: true, noDelay: true, pauseOnConnect: true, ...TCP_KEEPALIVE },
      (socket) => {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        this.metrics.countConnection('tcp', socket);
        this.onConnection(socket, config.service);
      },
    );
    await listenOn(
      server,
      { ...config.listen, port },
      `tcp listener for ${config.service} (tcp[].listen)`,
      this.onAcceptError,
    );
    return { config, server };
  }
}

function boundPort({ config, server }: Bound): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : config.listen.port;
}

function keyOf(config: TcpListenerConfig): string {
  return `${formatHostPort(config.listen)}→${config.service}`;
}
