// W3C Trace Context (https://www.w3.org/TR/trace-context/) `traceparent` for the data path: parse and
// validate what a caller sent, continue it with the gateway's own span id, or start a new trace when
// the header is missing or invalid. Cheap: no regular expressions, ids cut from a pooled block of random
// bytes (one crypto call and one hex conversion per 256 ids), results are plain strings.
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

function isLowerHex(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isAllZero(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * Whether trimmed `text` is a traceparent this gateway continues: version 00 of exactly 55 characters,
 * or a higher version (not ff) whose first 55 characters read as version 00 and are followed by '-';
 * lower-case hex ids, neither all zero.
 */
function isValidTraceparent(text: string): boolean {
  const length = text.length;
  if (length < VERSION_00_LENGTH) return false;
  if (!isLowerHex(text, 0, 2)) return false;
  const version00 = text.charCodeAt(0) === 48 && text.charCodeAt(1) === 48;
  if (!version00 && text.charCodeAt(0) === 102 && text.charCodeAt(1) === 102) return false; // ff
  if (version00 ? length !== VERSION_00_LENGTH : length > VERSION_00_LENGTH && text[55] !== '-') return false;
  if (text[2] !== '-' || text[35] !== '-' || text[52] !== '-') return false;
  if (!isLowerHex(text, 3, 35) || !isLowerHex(text, 36, 52) || !isLowerHex(text, 53, 55)) return false;
  return !isAllZero(text, 3, 35) && !isAllZero(text, 36, 52);
}

/**
 * The trace context in a `traceparent` value, or undefined when it is absent or invalid (wrong length,
 * upper-case or non-hex digits, all-zero ids, version ff). A higher version is read by its version-00
 * prefix, as the spec asks, when it is followed by '-'.
 */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (value === undefined || value.length < VERSION_00_LENGTH) return undefined;
  const text = value.trim();
  if (!isValidTraceparent(text)) return undefined;
  return {
    traceId: text.slice(3, 35),
    parentId: text.slice(36, 52),
    flags: parseInt(text.slice(53, 55), 16),
  };
}

/** Whether a (valid) traceparent value has the sampled flag set. */
export function isSampledTraceparent(value: string): boolean {
  const last = value.charCodeAt(54);
  // The flags' low nibble is the last hex digit: sampled is bit 0, so the digit is odd.
  return ((last <= 57 ? last - 48 : last - 87) & SAMPLED_FLAG) !== 0;
}

/** The version-00 header value of a context. */
export function formatTraceparent(context: TraceContext): string {
  const flags = (context.flags & 0xff).toString(16).padStart(2, '0');
  return `00-${context.traceId}-${context.parentId}-${flags}`;
}

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
/** The pool as hex, made once per refill: an id is then a slice of it, not a conversion per call. */
let poolHex = '';
let poolOffset = POOL_BYTES;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolOffset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      poolHex = pool.toString('hex');
      poolOffset = 0;
    }
    const start = poolOffset;
    poolOffset += bytes;
    // All-zero ids are invalid; with random bytes this loops again about never.
    for (let i = start; i < poolOffset; i++)
      if (pool[i] !== 0) return poolHex.slice(start * 2, poolOffset * 2);
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

/** Decides whether a trace the gateway starts is sampled (see RateSampler). */
export interface TraceSampler {
  sampled(): boolean;
}

/**
 * One call for the data path: the `traceparent` value to send upstream given the one received (or
 * undefined). A valid one keeps its trace id and flags with a new span id of this gateway as parent-id;
 * a missing or invalid one starts a new trace, sampled when `sampler` says so (unsampled without one).
 * No regular expressions and no intermediate objects: a character scan, one pooled id, one string.
 */
export function forwardTraceparent(received: string | undefined, sampler?: TraceSampler): string {
  if (received !== undefined && received.length >= VERSION_00_LENGTH) {
    const text = received.length === VERSION_00_LENGTH ? received : received.trim();
    if (isValidTraceparent(text)) return `00-${text.slice(3, 35)}-${newSpanId()}-${text.slice(53, 55)}`;
  }
  return `00-${newTraceId()}-${newSpanId()}-${sampler !== undefined && sampler.sampled() ? '01' : '00'}`;
}
