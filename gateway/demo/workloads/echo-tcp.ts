// The demo's TCP workload: echoes every byte back and keeps half-close (a client that ends its side still
// receives everything it sent).
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export class EchoTcpServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly host: string;
  private readonly port: number;

  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
    this.server = createServer({ allowHalfOpen: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    });
  }

  start(): Promise<AddressInfo> {
    return new Promise((resolveStart, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolveStart(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolveClose) => this.server.close(() => resolveClose()));
  }
}
