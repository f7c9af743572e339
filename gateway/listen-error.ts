// One clear error for a listener that cannot bind (admin, control, DNS, data-plane listeners): which
// listener, which address, why, and what to change.
import type { Server } from 'node:net';
import { GatewayError } from './errors.js';
import { formatHostPort, type HostPort } from './config/index.js';

const HINTS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process (an earlier gateway?) already listens there',
  EACCES: 'permission denied: ports below 1024 need privileges',
  EADDRNOTAVAIL: 'that address does not belong to this host',
};

/** `what` names the listener and its config key, e.g. "admin API (listen.admin)". */
export function listenError(what: string, address: HostPort, cause: unknown): GatewayError {
  const message = cause instanceof Error ? cause.message : String(cause);
  // grpc-js reports bind failures as a plain Error whose message embeds the errno name.
  const code =
    (cause as NodeJS.ErrnoException | undefined)?.code ??
    /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(message)?.[1];
  const why = (code && HINTS[code]) ?? message;
  return new GatewayError(
    'LISTEN_FAILED',
    `${what} cannot listen on ${formatHostPort(address)}: ${why}${code ? ` (${code})` : ''}`,
    { cause },
  );
}

/**
 * Told when a bound listener fails to accept a connection (ENOBUFS, ENOMEM, a network error the kernel
 * hands to accept()): the caller is refused, the listener keeps listening. `what` names the listener.
 */
export type AcceptErrorHandler = (what: string, err: Error) => void;

/**
 * Binds a net/tls server to `address` (exclusive) and resolves with the port actually bound (useful with
 * port 0); a bind failure rejects with listenError(what, …). Once bound, an 'error' from the server is a
 * connection it could not accept, and goes to `onAcceptError`: with no listener, it would end the process.
 */
export function listenOn(
  server: Server,
  address: HostPort,
  what: string,
  onAcceptError: AcceptErrorHandler,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(listenError(what, address, err));
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
      server.removeListener('error', onError);
      server.on('error', (err: Error) => onAcceptError(what, err));
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : address.port);
    });
  });
}
