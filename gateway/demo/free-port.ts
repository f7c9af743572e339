// Finds free TCP ports on a given loopback address, for processes that cannot listen on port 0 and
// report back (redis-server, child gateways). A port is released before it is returned, so a caller that
// loses the race gets EADDRINUSE and picks again; one process never gets the same port twice (a gateway
// given four ports in a row once got one of them twice).
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

/** Ports this process handed out: the kernel may offer a just-released port again. */
const handedOut = new Set<string>();
const MAX_TRIES = 20;

/** An ephemeral port that is free on `host` right now and was not handed out before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < MAX_TRIES; i++) {
    const port = await tryListen(host, 0);
    if (port === undefined) break;
    const key = `${host}:${port}`;
    if (handedOut.has(key)) continue;
    handedOut.add(key);
    return port;
  }
  throw new Error(`cannot bind a new port on ${host}`);
}

/** `preferred` when it is free on `host` (stable, copy-pasteable demo addresses), else an ephemeral one. */
export async function preferredPort(host: string, preferred: number): Promise<number> {
  return (await tryListen(host, preferred)) ?? freePort(host);
}
