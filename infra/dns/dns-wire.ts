// DNS wire format pieces dns-packet does not cover: RFC 2136 UPDATE sections need class NONE (254) and
// empty RDATA for class ANY, and TSIG needs names in canonical uncompressed form and the byte offset of the
// TSIG record. RDATA of A/AAAA/TXT is still produced by dns-packet; decoding responses is dns-packet's job.
import dnsPacket from 'dns-packet';
import { InfraError } from '../errors.js';

export const TYPE_CODE = { A: 1, SOA: 6, TXT: 16, AAAA: 28, TSIG: 250 } as const;
export type WireType = keyof typeof TYPE_CODE;
export const CLASS_CODE = { IN: 1, NONE: 254, ANY: 255 } as const;
export type WireClass = keyof typeof CLASS_CODE;
export const OPCODE_UPDATE = 5;

/** One resource record as UPDATE prerequisites and updates need it (RFC 2136 §2.4, §2.5). */
export interface WireRecord {
  readonly name: string;
  readonly type: WireType;
  readonly class: WireClass;
  readonly ttl: number;
  readonly rdata: Buffer;
}

/** Canonical (lower-case, uncompressed) wire form of a domain name. */
export function encodeName(name: string): Buffer {
  const trimmed = name.toLowerCase().replace(/\.$/, '');
  const labels = trimmed === '' ? [] : trimmed.split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > 63) {
      throw new InfraError('DNS_INVALID', `"${name}" has an empty or over-long label`);
    }
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new InfraError('DNS_INVALID', `"${name}" is longer than 255 bytes`);
  return wire;
}

/** RDATA of an A, AAAA or TXT value, encoded by dns-packet. */
export function encodeRdata(type: 'A' | 'AAAA' | 'TXT', value: string): Buffer {
  const data = type === 'TXT' ? chunkTxt(value) : value;
  const packet = dnsPacket.encode({
    answers: [{ name: '.', type, class: 'IN', ttl: 0, data } as dnsPacket.Answer],
  });
  // header (12) + root name (1) + type, class, ttl (8) → RDLENGTH at 21, RDATA from 23.
  return Buffer.from(packet.subarray(23, 23 + packet.readUInt16BE(21)));
}

function chunkTxt(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

export function encodeRecord(record: WireRecord): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_CODE[record.type], 0);
  fixed.writeUInt16BE(CLASS_CODE[record.class], 2);
  fixed.writeUInt32BE(record.ttl, 4);
  fixed.writeUInt16BE(record.rdata.length, 8);
  return Buffer.concat([encodeName(record.name), fixed, record.rdata]);
}

/** An UPDATE message: zone section, prerequisites, updates; no additional records (TSIG is added later). */
export function encodeUpdate(
  id: number,
  zone: string,
  prerequisites: readonly WireRecord[],
  updates: readonly WireRecord[],
): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(prerequisites.length, 6);
  header.writeUInt16BE(updates.length, 8);
  header.writeUInt16BE(0, 10);
  const zoneSection = Buffer.alloc(4);
  zoneSection.writeUInt16BE(TYPE_CODE.SOA, 0);
  zoneSection.writeUInt16BE(CLASS_CODE.IN, 2);
  return Buffer.concat([
    header,
    encodeName(zone),
    zoneSection,
    ...prerequisites.map(encodeRecord),
    ...updates.map(encodeRecord),
  ]);
}

/** Offset just past the (possibly compressed) name at `offset`. */
function skipName(buf: Buffer, offset: number): number {
  for (let at = offset; at < buf.length;) {
    const len = buf[at] ?? 0;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2;
    if ((len & 0xc0) !== 0) break;
    at += len + 1;
  }
  throw new InfraError('DNS_PROVIDER', 'malformed DNS message: bad name');
}

/** Byte offset where each record of the message starts (questions excluded), in order. */
export function recordOffsets(buf: Buffer): number[] {
  if (buf.length < 12) throw new InfraError('DNS_PROVIDER', 'malformed DNS message: short header');
  const questions = buf.readUInt16BE(4);
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let at = 12;
  for (let i = 0; i < questions; i++) at = skipName(buf, at) + 4;
  const offsets: number[] = [];
  for (let i = 0; i < records; i++) {
    offsets.push(at);
    const fixed = skipName(buf, at);
    if (fixed + 10 > buf.length)
      throw new InfraError('DNS_PROVIDER', 'malformed DNS message: truncated record');
    at = fixed + 10 + buf.readUInt16BE(fixed + 8);
  }
  if (at > buf.length) throw new InfraError('DNS_PROVIDER', 'malformed DNS message: truncated record');
  return offsets;
}

/** Decodes the name at `offset` (following compression pointers) in canonical lower case. */
export function decodeNameAt(buf: Buffer, offset: number): string {
  const labels: string[] = [];
  let at = offset;
  for (let hops = 0; hops < 64; hops++) {
    const len = buf[at];
    if (len === undefined) break;
    if (len === 0) return labels.join('.').toLowerCase();
    if ((len & 0xc0) === 0xc0) {
      at = buf.readUInt16BE(at) & 0x3fff;
      continue;
    }
    labels.push(buf.toString('ascii', at + 1, at + 1 + len));
    at += len + 1;
  }
  throw new InfraError('DNS_PROVIDER', 'malformed DNS message: bad name');
}

/** Offset just past a record's name: where TYPE, CLASS, TTL, RDLENGTH start. */
export function recordFixedOffset(buf: Buffer, offset: number): number {
  return skipName(buf, offset);
}
