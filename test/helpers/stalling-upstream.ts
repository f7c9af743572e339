// An upstream that accepts connections and never reads or answers: a request sent to it stays in flight
// (drains, timeouts), and an upload to it stops moving once the socket buffers are full.
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface StallingUpstream {
  /** host:port, for a service's endpoints. */
  readonly endpoint: string;
  /** The connections it holds. */
  readonly held: readonly Socket[];
  close(): void;
}

export async function startStallingUpstream(host: string): Promise<StallingUpstream> {
  const held: Socket[] = [];
  const server = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `${host}:${port}`,
    held,
    close: () => {
      for (const socket of held) socket.destroy();
      server.close();
    },
  };
}
