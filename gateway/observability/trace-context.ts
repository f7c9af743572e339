// W3C Trace Context (https://www.w3.org/TR/trace-context/) `traceparent` for the data path: parse and
// validate what a caller sent, continue it with the gateway's own span id, or start a new trace when
// the header is missing or invalid. Cheap: no regular expressions, ids cut from a pooled block of random
// bytes (one crypto call per 256 ids), results are plain strings.
//
//   traceparent: 00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the span that made the request. */
  readonly parentId: string;
  /** Trace flags; bit 0 is "sampled". */
  readonly flags: number;
}

export const TRACEPARENT_HEADER = 'traceparent';
export const SAMPLED_FLAG = 0x01;

const VERSION_00_LENGTH = 55;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

function isLowerHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * The trace context in a `traceparent` value, or undefined when it is absent or invalid (wrong length,
 * upper-case or non-hex digits, all-zero ids, version ff). A higher version is read by its version-00
 * prefix, as the spec asks, when it is followed by '-'.
 */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (value === undefined || value.length < VERSION_00_LENGTH) return undefined;
  const text = value.trim();
  if (text.length < VERSION_00_LENGTH) return undefined;
  if (!isLowerHex(text, 0, 2)) return undefined;
  const version = text.slice(0, 2);
  if (version === 'ff') return undefined;
  if (
    version === '00' ? text.length !== VERSION_00_LENGTH : text.length > VERSION_00_LENGTH && text[55] !== '-'
  )
    return undefined;
  if (text[2] !== '-' || text[35] !== '-' || text[52] !== '-') return undefined;
  if (!isLowerHex(text, 3, 35) || !isLowerHex(text, 36, 52) || !isLowerHex(text, 53, 55)) return undefined;
  const traceId = text.slice(3, 35);
  const parentId = text.slice(36, 52);
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, flags: parseInt(text.slice(53, 55), 16) };
}

/** The version-00 header value of a context. */
export function formatTraceparent(context: TraceContext): string {
  const flags = (context.flags & 0xff).toString(16).padStart(2, '0');
  return `00-${context.traceId}-${context.parentId}-${flags}`;
}

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolOffset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    // All-zero ids are invalid; with random bytes this loops again about never.
    if (hex !== ZERO_TRACE.slice(0, bytes * 2)) return hex;
  }
}

/** A fresh 16-hex-digit span id. */
export function newSpanId(): string {
  return randomHex(8);
}

/** A fresh 32-hex-digit trace id. */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new trace rooted at the gateway; `sampled` sets flag bit 0. */
export function newTraceContext(sampled = false): TraceContext {
  return { traceId: newTraceId(), parentId: newSpanId(), flags: sampled ? SAMPLED_FLAG : 0 };
}

/** The context to forward: the caller's trace with the gateway's span as parent, or a new trace. */
export function continueTrace(incoming: TraceContext | undefined): TraceContext {
  if (!incoming) return newTraceContext();
  return { traceId: incoming.traceId, parentId: newSpanId(), flags: incoming.flags };
}

/**
 * One call for the data path: the `traceparent` value to send upstream given the one received (or
 * undefined). Invalid input starts a new trace instead of being passed on.
 */
export function forwardTraceparent(received: string | undefined): string {
  return formatTraceparent(continueTrace(parseTraceparent(received)));
}
