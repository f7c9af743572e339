// Starts a test's own server on an ephemeral port of a loopback address.
import { once } from 'node:events';
import type { Server } from 'node:net';

/** Listens on `host`, port 0; resolves with the address as a gateway's config names an endpoint. */
export async function listenOnLoopback(server: Server, host: string): Promise<string> {
  server.listen(0, host);
  await once(server, 'listening');
  return `${host}:${(server.address() as { port: number }).port}`;
}
