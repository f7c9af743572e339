// One clear error for a listener that cannot bind (admin, control, DNS, data-plane listeners): which
// listener, which address, why, and what to change.
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
