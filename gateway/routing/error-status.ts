// The one place where a data-path failure becomes an answer: an HTTP status for HTTP callers, a gRPC
// status for gRPC callers (HTTP 200, trailers-only), the header fields every such answer carries
// (weft-error, Retry-After), and a short plain-text body naming what failed.
// Also classifies failures for outcome feedback: local-origin (we could not reach or keep the
// upstream) versus upstream-origin (the upstream answered with an error), in Envoy's sense.
import { REFUSED_STREAM, type GatewayError, type GatewayErrorCode } from '../errors.js';
import type { HeaderMap } from '../upstream/exchange.js';
import { ERROR_HEADER } from './proxy-headers.js';

/** gRPC status codes used by the gateway (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface ErrorAnswer {
  readonly http: number;
  readonly grpc: number;
}

const ANSWERS: Readonly<Partial<Record<GatewayErrorCode, ErrorAnswer>>> = {
  NO_ROUTE: { http: 404, grpc: GrpcStatus.NOT_FOUND },
  NO_HEALTHY_UPSTREAM: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  UPSTREAM_CONNECT: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  UPSTREAM_TIMEOUT: { http: 504, grpc: GrpcStatus.UNAVAILABLE },
  DEADLINE_EXCEEDED: { http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED },
  STREAM_IDLE: { http: 504, grpc: GrpcStatus.UNAVAILABLE },
  UPSTREAM_RESET: { http: 502, grpc: GrpcStatus.UNAVAILABLE },
  PEER_IDENTITY: { http: 502, grpc: GrpcStatus.UNAVAILABLE },
  FORBIDDEN: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  BAD_REQUEST: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  NOT_IMPLEMENTED: { http: 501, grpc: GrpcStatus.UNIMPLEMENTED },
  HEADERS_TOO_LARGE: { http: 431, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  DOWNSTREAM_CANCELLED: { http: 499, grpc: GrpcStatus.CANCELLED },
  // Never sent (a full breaker, queue or pool): transient and safe to retry, which gRPC clients do for
  // UNAVAILABLE (and Envoy answers its overflow so); RESOURCE_EXHAUSTED reads as a quota and is not retried.
  OVERLOADED: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  RATE_LIMITED: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
};

const INTERNAL_ANSWER: ErrorAnswer = { http: 500, grpc: GrpcStatus.INTERNAL };

export function httpStatusOf(code: GatewayErrorCode): number {
  return (ANSWERS[code] ?? INTERNAL_ANSWER).http;
}

function grpcStatusOf(code: GatewayErrorCode): number {
  return (ANSWERS[code] ?? INTERNAL_ANSWER).grpc;
}

/** HTTP/2 error codes (RFC 9113 §7) that gRPC reads as a status of their own. */
const CANCEL = 0x8;
const ENHANCE_YOUR_CALM = 0xb;
const INADEQUATE_SECURITY = 0xc;

/**
 * The gRPC status a gRPC caller gets for `err`: for an upstream's stream reset what gRPC reads from its
 * code (PROTOCOL-HTTP2.md: CANCEL is CANCELLED, ENHANCE_YOUR_CALM RESOURCE_EXHAUSTED, INADEQUATE_SECURITY
 * PERMISSION_DENIED, REFUSED_STREAM UNAVAILABLE, any other INTERNAL), as if the caller had called the
 * service directly; otherwise `otherwise`, by default the status the error's code maps to.
 */
export function grpcStatusOfFailure(err: GatewayError, otherwise = grpcStatusOf(err.code)): number {
  switch (err.resetCode) {
    case undefined:
      return otherwise;
    case REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case CANCEL:
      return GrpcStatus.CANCELLED;
    case ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/** gRPC's mapping of an HTTP status without a grpc-status field (grpc/doc/http-grpc-status-mapping.md). */
const GRPC_STATUS_OF_HTTP: ReadonlyMap<number, number> = new Map([
  [400, GrpcStatus.INTERNAL],
  [401, GrpcStatus.UNAUTHENTICATED],
  [403, GrpcStatus.PERMISSION_DENIED],
  [404, GrpcStatus.UNIMPLEMENTED],
  [429, GrpcStatus.UNAVAILABLE],
  [502, GrpcStatus.UNAVAILABLE],
  [503, GrpcStatus.UNAVAILABLE],
  [504, GrpcStatus.UNAVAILABLE],
]);

/**
 * The gRPC status a gRPC caller reads from a complete answer: the grpc-status in `fields` (the trailers,
 * or a trailers-only head), else what gRPC maps the HTTP status to; UNKNOWN for a missing or invalid one.
 */
export function grpcStatusOfAnswer(httpStatus: number, fields: HeaderMap | null): number {
  const value = fields?.['grpc-status'];
  // "0" to "16", the codes gRPC defines (a one- or two-digit field, checked without a regex per call).
  const code = typeof value === 'string' && value.length <= 2 ? Number(value) : Number.NaN;
  if (Number.isInteger(code) && code >= 0 && code <= 16 && String(code) === value) return code;
  if (value === undefined && httpStatus !== 200)
    return GRPC_STATUS_OF_HTTP.get(httpStatus) ?? GrpcStatus.UNKNOWN;
  return GrpcStatus.UNKNOWN;
}

/**
 * The header fields of an answer the gateway gives for `err` (HTTP or gRPC): weft-error with the code,
 * and Retry-After in whole seconds, rounded up, when the error says when to come back (RFC 9110 10.2.3).
 */
export function errorAnswerFields(err: GatewayError): Record<string, string> {
  const fields: Record<string, string> = { [ERROR_HEADER]: err.code };
  if (err.retryAfterMs !== undefined)
    fields['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
  return fields;
}

/**
 * The fields of a gateway error answered to a gRPC caller: `status` (the code's own gRPC status, or
 * UNAVAILABLE for a call that failed mid-stream), the message as grpc-message, and errorAnswerFields.
 */
export function grpcErrorFields(
  err: GatewayError,
  status: number = grpcStatusOfFailure(err),
): Record<string, string> {
  return {
    'grpc-status': String(status),
    'grpc-message': encodeGrpcMessage(err.message),
    ...errorAnswerFields(err),
  };
}

/**
 * Limits of this gateway or of the caller: a refusal answered without trying the upstream (its circuit
 * breaker, a full pool, the service's rate limit), a stream its idle timeout cut (the stall may be the
 * caller's, who stopped reading), a gRPC call whose own deadline passed (a caller in a hurry). Never an
 * outcome of the upstream the request went or would have gone to.
 */
export function isOwnLimit(code: GatewayErrorCode): boolean {
  return (
    code === 'OVERLOADED' || code === 'RATE_LIMITED' || code === 'STREAM_IDLE' || code === 'DEADLINE_EXCEEDED'
  );
}

/**
 * gRPC statuses that say the server failed, not the call: UNKNOWN, INTERNAL, UNAVAILABLE, DATA_LOSS
 * (gRPC's HTTP mapping puts them at 5xx). A gRPC server sends them with HTTP 200, so they count against
 * the upstream like a 5xx, as Envoy counts them for outlier detection. Left out: UNIMPLEMENTED (a method
 * the service lacks is the caller's mistake, and every endpoint answers it alike) and DEADLINE_EXCEEDED
 * (mostly the caller's own deadline passing: a caller in a hurry must not eject a healthy endpoint).
 */
const GRPC_SERVER_FAILURES: ReadonlySet<string> = new Set(['2', '13', '14', '15']);

/** Whether `fields` (a trailers-only head or the trailers of a gRPC answer) report a server failure. */
export function isGrpcServerFailure(fields: HeaderMap | null): boolean {
  const status = fields?.['grpc-status'];
  return typeof status === 'string' && GRPC_SERVER_FAILURES.has(status);
}

/**
 * Failures the gateway saw itself while reaching or talking to the upstream (connect refused, reset,
 * timeout, wrong peer identity). A downstream cancellation is neither: it never counts against an upstream.
 */
export function isLocalOriginFailure(code: GatewayErrorCode): boolean {
  return (
    code === 'UPSTREAM_CONNECT' ||
    code === 'UPSTREAM_RESET' ||
    code === 'UPSTREAM_TIMEOUT' ||
    code === 'PEER_IDENTITY'
  );
}

/** gRPC messages travel in a header: percent-encode everything outside printable ASCII (gRPC spec). */
function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
