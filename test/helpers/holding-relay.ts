// A TCP relay that holds one direction of its connections at a chosen point until the test releases it,
// so that something (a change of trust anchors) can happen while a TLS handshake is half done:
//   'answer'        holds every byte from the target to the client (the server's flight of a handshake);
//   'second-flight' passes the client's bytes until the target has answered, then holds them (a TLS 1.3
//                   client's certificate and Finished).
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export type HoldPoint = 'answer' | 'second-flight';

export interface HoldingRelay {
  /** `host:port` to dial instead of the target. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Resolves once the relay holds bytes of some connection. */
  readonly holding: Promise<void>;
  /** Lets the held bytes through, and every byte after them. */
  release(): void;
  close(): Promise<void>;
}

export async function startHoldingRelay(
  host: string,
  target: { readonly host: string; readonly port: number },
  hold: HoldPoint,
): Promise<HoldingRelay> {
  const sockets = new Set<Socket>();
  const releases: (() => void)[] = [];
  let released = false;
  let onHolding: () => void = () => undefined;
  const holding = new Promise<void>((resolve) => (onHolding = resolve));

  /** Relays `from` to `to`, holding from the first chunk for which `holdNow()` says so. */
  const relay = (from: Socket, to: Socket, holdNow: () => boolean) => {
    const held: Buffer[] = [];
    let holdingHere = false;
    from.on('data', (chunk: Buffer) => {
      if (!released && (holdingHere || holdNow())) {
        if (!holdingHere) onHolding();
        holdingHere = true;
        held.push(chunk);
        return;
      }
      to.write(chunk);
    });
    from.on('end', () => (holdingHere && !released ? releases.push(() => to.end()) : to.end()));
    releases.push(() => {
      for (const chunk of held.splice(0)) to.write(chunk);
      holdingHere = false;
    });
  };

  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.once('close', () => sockets.delete(socket));
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    let answered = false;
    relay(upstream, client, () => {
      answered = true;
      return hold === 'answer';
    });
    relay(client, upstream, () => hold === 'second-flight' && answered);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    address: `${host}:${port}`,
    host,
    port,
    holding,
    release: () => {
      released = true;
      for (const release of releases.splice(0)) release();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
