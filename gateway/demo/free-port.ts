// Finds a free TCP port on a given loopback address, for processes that cannot listen on port 0 and
// report back (redis-server, child gateways). The port is released before it is returned, so a caller
// that loses the race gets EADDRINUSE and picks again.
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}
