// Finds free TCP ports on a given loopback address, for processes that cannot listen on port 0 and
// report back (redis-server, child gateways). A port is released before it is returned, so a caller that
// loses the race gets EADDRINUSE and picks again.
import { createServer } from 'node:net';

function tryListen(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePort(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolvePort(bound));
    });
  });
}

/** An ephemeral port that is free on `host` right now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const port = await tryListen(host, 0);
  if (port === undefined) throw new Error(`cannot bind any port on ${host}`);
  return port;
}

/** `preferred` when it is free on `host` (stable, copy-pasteable demo addresses), else an ephemeral one. */
export async function preferredPort(host: string, preferred: number): Promise<number> {
  return (await tryListen(host, preferred)) ?? freePort(host);
}
