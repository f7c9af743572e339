// A provider-neutral record set: one RRset (name, type) or, with Route 53 routing policies, one member of a
// routed group told apart by its set identifier. Plus the two marker records weft writes beside its own:
// the ownership TXT (like external-dns's registry) and the zone's fence TXT (see fence-record.ts).
import { canonicalIp } from '../ip-address.js';
import type { AddressRecordType } from './record-spec.js';

export type RecordSetType = AddressRecordType | 'TXT';

export interface RecordSet {
  readonly name: string;
  readonly type: RecordSetType;
  readonly ttl: number;
  /**
   * Sorted; TXT values are the unquoted text. A and AAAA values are canonical (see canonicalAddress) where
   * weft writes them and in RFC 2136 read-back; Route 53's read-back keeps them as stored, since a DELETE
   * must carry a set exactly as it stands. sameRecordSet compares them canonically.
   */
  readonly values: readonly string[];
  readonly setIdentifier?: string;
  readonly failover?: 'PRIMARY' | 'SECONDARY';
  readonly weight?: number;
  readonly multiValue?: boolean;
  readonly healthCheckId?: string;
  /** Which cluster address this set stands for (to attach a health check); not part of the DNS data. */
  readonly origin?: { readonly cluster: string; readonly address: string };
}

/** A name and type: the unit weft owns, creates and deletes atomically. */
export interface RecordKey {
  readonly name: string;
  readonly type: RecordSetType;
}

export function recordKey(key: RecordKey): string {
  return `${key.name} ${key.type}`;
}

export function setKey(set: RecordSet): string {
  return `${set.name} ${set.type} ${set.setIdentifier ?? ''}`;
}

/** Compares the DNS data of two sets (not `origin`). */
export function sameRecordSet(a: RecordSet, b: RecordSet): boolean {
  return (
    a.name === b.name &&
    a.type === b.type &&
    a.ttl === b.ttl &&
    a.setIdentifier === b.setIdentifier &&
    a.failover === b.failover &&
    a.weight === b.weight &&
    Boolean(a.multiValue) === Boolean(b.multiValue) &&
    a.healthCheckId === b.healthCheckId &&
    sameValues(comparableValues(a), comparableValues(b))
  );
}

function comparableValues(set: RecordSet): readonly string[] {
  return set.type === 'TXT' ? set.values : sortedValues(set.values.map(canonicalAddress));
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * An A or AAAA value as the gateway's config writes it (RFC 5952: lower case, longest zero run compressed,
 * ::ffff:a.b.c.d), so that values read back from a zone compare equal to the configured ones: dns-packet
 * decodes ::ffff:127.0.0.1 as ::ffff:7f00:1 and 1:0:0:1:0:0:0:1 as 1::1:0:0:0:1. Other text as it is.
 */
export function canonicalAddress(value: string): string {
  return canonicalIp(value) ?? value;
}

export function sortedValues(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** The ownership marker of `name`/`type`: a TXT at `_weft-<type>.<name>`, one label, no empty non-terminal. */
export function ownershipName(key: RecordKey): string {
  return `_weft-${key.type.toLowerCase()}.${key.name}`;
}

export function ownershipValue(ownerId: string): string {
  return `heritage=weft,weft/owner=${ownerId}`;
}

export function ownershipRecord(key: RecordKey, ownerId: string, ttl: number): RecordSet {
  return { name: ownershipName(key), type: 'TXT', ttl, values: [ownershipValue(ownerId)] };
}

/** Which owner, if any, an ownership TXT names; undefined when the TXT is not weft's format. */
export function ownerOf(txt: RecordSet | undefined): string | undefined {
  for (const value of txt?.values ?? []) {
    const match = /^heritage=weft,weft\/owner=([a-z0-9-]+)$/.exec(value);
    if (match) return match[1];
  }
  return undefined;
}

export function describeSet(set: RecordSet): string {
  const routing = [
    set.setIdentifier ? `id=${set.setIdentifier}` : '',
    set.failover ? `failover=${set.failover}` : '',
    set.weight !== undefined ? `weight=${set.weight}` : '',
    set.multiValue ? 'multivalue' : '',
    set.healthCheckId ? `healthCheck=${set.healthCheckId}` : '',
  ].filter(Boolean);
  return `${set.name} ${set.ttl} ${set.type} ${set.values.join(' ')}${routing.length ? ` [${routing.join(' ')}]` : ''}`;
}
