// The demo's HTTP workload: answers every request with JSON naming the cluster that served it, so a caller
// can see local-first routing and failover at a glance. `/healthz` is its health endpoint.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HelloHttpOptions {
  readonly host: string;
  readonly port: number;
  readonly service: string;
  readonly cluster: string;
}

export class HelloHttpServer {
  private readonly server: Server;
  private readonly options: HelloHttpOptions;

  constructor(options: HelloHttpOptions) {
    this.options = options;
    this.server = createServer((req, res) => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      const body = JSON.stringify({
        service: options.service,
        cluster: options.cluster,
        method: req.method,
        path: req.url,
        sourceCluster: req.headers['weft-source-cluster'] ?? null,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body + '\n');
    });
    this.server.keepAliveTimeout = 65_000;
  }

  start(): Promise<AddressInfo> {
    return new Promise((resolveStart, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolveStart(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolveClose) => {
      this.server.close(() => resolveClose());
      this.server.closeAllConnections();
    });
  }
}
