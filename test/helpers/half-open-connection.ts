// One loopback connection whose caller keeps its side open after the server's FIN (allowHalfOpen), as a
// frozen or careless client does: the tests of what the gateway does with connections it has ended.
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * A server on `host` and a connection to it; `accept` gets the server's socket first (to hand it to a
 * protocol server). The caller reads whatever comes (resumed).
 */
export async function halfOpenConnection(
  t: TestContext,
  host: string,
  accept?: (socket: Socket) => void,
): Promise<{ caller: Socket; socket: Socket }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => accept?.(socket));
  server.listen(0, host);
  await once(server, 'listening');
  t.after(() => server.close());
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const caller = connect({ host, port: (server.address() as { port: number }).port, allowHalfOpen: true });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  const [[socket]] = await Promise.all([accepted, once(caller, 'connect')]);
  caller.resume();
  return { caller, socket };
}
