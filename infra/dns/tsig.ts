// TSIG (RFC 8945) with HMAC-SHA256/384/512 over node:crypto: signs requests and verifies the server's
// signed responses, so updates are authorized and what we read back was not forged. dns-packet knows the
// TSIG type code but not its RDATA or the MAC computation, hence this module.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InfraError } from '../errors.js';
import {
  CLASS_CODE,
  TYPE_CODE,
  decodeNameAt,
  encodeName,
  recordFixedOffset,
  recordOffsets,
} from './dns-wire.js';

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

export interface TsigKey {
  /** Key name as configured on the server, e.g. `weft-key`. */
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  readonly secret: Buffer;
}

const HASH: Readonly<Record<TsigAlgorithm, string>> = {
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

const FUDGE_SECONDS = 300;
const TSIG_ERRORS: Readonly<Record<number, string>> = {
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
};

interface TsigFields {
  readonly timeSigned: number;
  readonly fudge: number;
  readonly error: number;
  readonly other: Buffer;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

/** The TSIG variables of RFC 8945 §4.3.3, appended to the message for the MAC. */
function variables(key: TsigKey, fields: TsigFields): Buffer {
  const classTtl = Buffer.alloc(6);
  classTtl.writeUInt16BE(CLASS_CODE.ANY, 0);
  classTtl.writeUInt32BE(0, 2);
  return Buffer.concat([
    encodeName(key.name),
    classTtl,
    encodeName(key.algorithm),
    u48(fields.timeSigned),
    u16(fields.fudge),
    u16(fields.error),
    u16(fields.other.length),
    fields.other,
  ]);
}

function mac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const hmac = createHmac(HASH[key.algorithm], key.secret);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

export interface SignedMessage {
  readonly wire: Buffer;
  /** The request MAC, needed to verify the response. */
  readonly mac: Buffer;
}

/** Appends a TSIG record to `message` (whose ID is the original ID) and bumps ARCOUNT. */
export function signMessage(message: Buffer, key: TsigKey, nowMs: number): SignedMessage {
  const fields: TsigFields = {
    timeSigned: Math.floor(nowMs / 1000),
    fudge: FUDGE_SECONDS,
    error: 0,
    other: Buffer.alloc(0),
  };
  const digest = mac(key, [message, variables(key, fields)]);
  const rdata = Buffer.concat([
    encodeName(key.algorithm),
    u48(fields.timeSigned),
    u16(fields.fudge),
    u16(digest.length),
    digest,
    u16(message.readUInt16BE(0)),
    u16(fields.error),
    u16(0),
  ]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_CODE.TSIG, 0);
  fixed.writeUInt16BE(CLASS_CODE.ANY, 2);
  fixed.writeUInt32BE(0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  const wire = Buffer.concat([message, encodeName(key.name), fixed, rdata]);
  wire.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { wire, mac: digest };
}

/**
 * Checks the response's TSIG against the request MAC. Throws InfraError DNS_PROVIDER naming the problem:
 * unsigned response, wrong key, TSIG error from the server (BADSIG, BADKEY, BADTIME), bad MAC, clock skew.
 */
export function verifyResponse(response: Buffer, key: TsigKey, requestMac: Buffer, nowMs: number): void {
  const offsets = recordOffsets(response);
  const last = offsets[offsets.length - 1];
  const fail = (why: string) =>
    new InfraError('DNS_PROVIDER', `TSIG check of the server's response failed: ${why}`);
  if (last === undefined || response.readUInt16BE(10) === 0) throw fail('the response is not signed');
  const fixed = recordFixedOffset(response, last);
  if (response.readUInt16BE(fixed) !== TYPE_CODE.TSIG) throw fail('the response is not signed');
  if (decodeNameAt(response, last) !== key.name.toLowerCase().replace(/\.$/, ''))
    throw fail('signed with another key');
  let at = fixed + 10;
  const algorithm = decodeNameAt(response, at);
  at = recordFixedOffset(response, at);
  const timeSigned = response.readUIntBE(at, 6);
  const fudge = response.readUInt16BE(at + 6);
  const macSize = response.readUInt16BE(at + 8);
  const digest = response.subarray(at + 10, at + 10 + macSize);
  at += 10 + macSize;
  const originalId = response.readUInt16BE(at);
  const error = response.readUInt16BE(at + 2);
  const otherLen = response.readUInt16BE(at + 4);
  const other = response.subarray(at + 6, at + 6 + otherLen);
  if (error !== 0) throw fail(`the server answered ${TSIG_ERRORS[error] ?? `TSIG error ${error}`}`);
  if (algorithm !== key.algorithm) throw fail(`algorithm ${algorithm}, expected ${key.algorithm}`);
  const unsigned = Buffer.from(response.subarray(0, last));
  unsigned.writeUInt16BE(originalId, 0);
  unsigned.writeUInt16BE(response.readUInt16BE(10) - 1, 10);
  const expected = mac(key, [
    u16(requestMac.length),
    requestMac,
    unsigned,
    variables(key, { timeSigned, fudge, error, other }),
  ]);
  if (digest.length !== expected.length || !timingSafeEqual(digest, expected)) throw fail('bad MAC');
  if (Math.abs(Math.floor(nowMs / 1000) - timeSigned) > fudge)
    throw fail('clock skew beyond the fudge window');
}
