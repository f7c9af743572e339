// The base error of the gateway layer. Callers branch on `code`, never on the message.
// Data-path failures map to an HTTP status in exactly one place (see routing/error-status.ts).

export type GatewayErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'USAGE'
  | 'NO_ROUTE'
  | 'NO_HEALTHY_UPSTREAM'
  | 'UPSTREAM_CONNECT'
  | 'UPSTREAM_TIMEOUT'
  | 'DEADLINE_EXCEEDED'
  | 'STREAM_IDLE'
  | 'UPSTREAM_RESET'
  | 'PEER_IDENTITY'
  | 'FORBIDDEN'
  | 'BAD_REQUEST'
  | 'NOT_IMPLEMENTED'
  | 'HEADERS_TOO_LARGE'
  | 'DOWNSTREAM_CANCELLED'
  | 'OVERLOADED'
  | 'RATE_LIMITED'
  | 'DEPENDENCY_MISSING'
  | 'LISTEN_FAILED'
  | 'ADMIN_UNREACHABLE'
  | 'DNS_FAILED'
  | 'CHECK_FAILED'
  | 'INTERNAL';

export interface GatewayErrorOptions {
  readonly cause?: unknown;
  /** When the caller may try again (a refusal by a limit): answered as Retry-After. */
  readonly retryAfterMs?: number;
  /** The HTTP/2 error code the upstream reset its stream with (a gRPC caller reads a status from it). */
  readonly resetCode?: number;
}

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly retryAfterMs: number | undefined;
  readonly resetCode: number | undefined;

  constructor(code: GatewayErrorCode, message: string, options?: GatewayErrorOptions) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
    this.resetCode = options?.resetCode;
  }
}

/**
 * Codes that mean "the request never left this gateway": safe to send elsewhere. OVERLOADED reaches a
 * try only from a connection pool that had no room for it (or a per-try timeout while it waited for one).
 */
const NOT_SENT: ReadonlySet<GatewayErrorCode> = new Set(['UPSTREAM_CONNECT', 'PEER_IDENTITY', 'OVERLOADED']);

/** Whether a failure with this code left the request unsent (safe to send elsewhere). */
export function neverSent(code: GatewayErrorCode): boolean {
  return NOT_SENT.has(code);
}

/** HTTP/2 REFUSED_STREAM (RFC 9113 §8.7): the peer closed the stream before doing any processing of it. */
export const REFUSED_STREAM = 0x7;

/**
 * The upstream refused the stream unprocessed: it is up, and was at its stream limit (a first burst
 * sent before its SETTINGS arrived) or going away. Safe to send again, to the same upstream too.
 */
export function refusedUnprocessed(err: GatewayError): boolean {
  return err.code === 'UPSTREAM_CONNECT' && err.resetCode === REFUSED_STREAM;
}
