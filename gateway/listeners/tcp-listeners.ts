// The `tcp:` listeners of the config: one plain TCP port per entry, each bound to one service. A
// config reload rebuilds only what changed: new entries start listening, removed ones stop accepting
// (their open tunnels finish), unchanged ones keep their socket. Connections are half-open capable so a
// client's half-close travels end to end.
import { createServer, type Server, type Socket } from 'node:net';
import { formatHostPort, type HostPort } from '../config/index.js';
import { listenOn } from '../listen-error.js';
import type { RequestMetrics } from './request-metrics.js';

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

  constructor(metrics: RequestMetrics, onConnection: (socket: Socket, service: string) => void) {
    this.metrics = metrics;
    this.onConnection = onConnection;
  }

  /**
   * Makes the listening set equal `configs`: entries no longer configured stop accepting first (so a
   * port can move to another service), then new entries bind. A bind failure closes what this call
   * opened and rejects with LISTEN_FAILED.
   */
  async apply(configs: readonly TcpListenerConfig[]): Promise<void> {
    const wanted = new Map(configs.map((c) => [keyOf(c), c]));
    for (const [key, entry] of this.bound) {
      if (!wanted.has(key)) {
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
      throw err;
    }
    for (const entry of opened) this.bound.set(keyOf(entry.config), entry);
  }

  ports(): { listen: string; service: string; port: number }[] {
    return [...this.bound.values()].map(({ config, server }) => {
      const address = server.address();
      return {
        listen: formatHostPort(config.listen),
        service: config.service,
        port: typeof address === 'object' && address ? address.port : config.listen.port,
      };
    });
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Stops accepting on every port; open tunnels continue. */
  drain(): void {
    for (const entry of this.bound.values()) if (entry.server.listening) entry.server.close();
    this.bound.clear();
  }

  destroy(): void {
    this.drain();
    for (const socket of this.sockets) socket.destroy();
  }

  private async listen(config: TcpListenerConfig): Promise<Bound> {
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) => {
      this.sockets.add(socket);
      this.metrics.openConnections.inc({ listener: 'tcp' });
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.metrics.openConnections.dec({ listener: 'tcp' });
        this.metrics.countBytes('tcp', socket.bytesRead, socket.bytesWritten);
      });
      this.onConnection(socket, config.service);
    });
    await listenOn(server, config.listen, `tcp listener for ${config.service} (tcp[].listen)`);
    return { config, server };
  }
}

function keyOf(config: TcpListenerConfig): string {
  return `${formatHostPort(config.listen)}→${config.service}`;
}
