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
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why = (code && HINTS[code]) ?? (cause instanceof Error ? cause.message : String(cause));
  return new GatewayError(
    'LISTEN_FAILED',
    `${what} cannot listen on ${formatHostPort(address)}: ${why}${code ? ` (${code})` : ''}`,
    { cause },
  );
}
