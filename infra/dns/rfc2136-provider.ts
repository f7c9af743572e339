// A DnsProvider for any DNS server that takes RFC 2136 dynamic updates signed with TSIG (BIND9, Knot,
// PowerDNS, Windows DNS with TSIG). Reads are TSIG-signed queries of the names weft owns; writes are UPDATE
// messages whose prerequisites carry the fence and ownership checks, so the server itself refuses a stale
// leader's batch or a write over records someone else created meanwhile.
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { InfraError } from '../errors.js';
import type { ChangeUnit } from './change-plan.js';
import type { DnsProvider } from './dns-provider.js';
import { exchangeTcp, type DnsServerAddress } from './dns-tcp-exchange.js';
import { formatHostPort } from '../ip-address.js';
import { encodeRdata, encodeUpdate, type WireRecord } from './dns-wire.js';
import {
  fenceHolder,
  fenceName,
  fenceRecord,
  judgeFence,
  type FenceClaim,
  type FenceHolder,
} from './fence-record.js';
import { normalizeDnsName } from './record-spec.js';
import { canonicalAddress, sortedValues, type RecordKey, type RecordSet } from './record-set.js';
import { signMessage, verifyResponse, type TsigKey } from './tsig.js';

export interface Rfc2136ProviderOptions {
  readonly server: DnsServerAddress;
  readonly zone: string;
  readonly tsig: TsigKey;
  /** Per request; default 5000. */
  readonly timeoutMs?: number;
  /** Parallel queries when reading; default 8. */
  readonly readConcurrency?: number;
  /** Epoch ms, for TSIG time; default Date.now. */
  readonly now?: () => number;
}

const RCODE_NAMES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
];
const PREREQUISITE_FAILED = new Set([3, 6, 7, 8]);

export class Rfc2136Provider implements DnsProvider {
  readonly kind = 'rfc2136';
  readonly zone: string;
  readonly routingPolicies = false;
  private readonly server: DnsServerAddress;
  private readonly tsig: TsigKey;
  private readonly timeoutMs: number;
  private readonly readConcurrency: number;
  private readonly now: () => number;

  constructor(options: Rfc2136ProviderOptions) {
    this.zone = normalizeDnsName(options.zone);
    this.server = options.server;
    this.tsig = options.tsig;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.readConcurrency = options.readConcurrency ?? 8;
    this.now = options.now ?? Date.now;
    if (options.tsig.secret.length === 0) throw new InfraError('DNS_INVALID', 'the TSIG secret is empty');
  }

  async readRecords(keys: readonly RecordKey[], signal?: AbortSignal): Promise<RecordSet[]> {
    const sets: RecordSet[] = [];
    for (let i = 0; i < keys.length; i += this.readConcurrency) {
      const chunk = keys.slice(i, i + this.readConcurrency);
      const found = await Promise.all(chunk.map((key) => this.query(key, signal)));
      for (const set of found) if (set) sets.push(set);
    }
    return sets;
  }

  prepare(desired: readonly RecordSet[]): Promise<RecordSet[]> {
    return Promise.resolve([...desired]);
  }

  async claimFence(ownerId: string, holder: FenceHolder, signal?: AbortSignal): Promise<FenceClaim> {
    const name = fenceName(this.zone, ownerId);
    const current = await this.query({ name, type: 'TXT' }, signal);
    const zone = fenceHolder(current);
    const verdict = judgeFence(zone, holder);
    if (verdict === 'held') return { claimed: true };
    if (verdict === 'ahead') return { claimed: false, zoneToken: zone?.token ?? 0 };
    const prerequisites: WireRecord[] = current
      ? current.values.map((v) => ({ name, type: 'TXT', class: 'IN', ttl: 0, rdata: encodeRdata('TXT', v) }))
      : [{ name, type: 'TXT', class: 'NONE', ttl: 0, rdata: Buffer.alloc(0) }];
    const next = fenceRecord(this.zone, ownerId, holder);
    await this.update(prerequisites, [deleteRrset(name, 'TXT'), ...addRecords(next)], signal);
    return { claimed: true };
  }

  async applyBatch(
    units: readonly ChangeUnit[],
    ownerId: string,
    holder: FenceHolder,
    signal?: AbortSignal,
  ): Promise<void> {
    const fence = fenceRecord(this.zone, ownerId, holder);
    const prerequisites: WireRecord[] = [...presentExactly(fence)];
    const updates: WireRecord[] = [];
    for (const unit of units) {
      const { name, type } = unit.key;
      if (unit.ownership === 'claim') {
        prerequisites.push(absent(name, type), absent(unit.ownerRecord.name, 'TXT'));
        updates.push(...addRecords(unit.ownerRecord));
      } else {
        prerequisites.push(...presentExactly(unit.ownerRecord));
        if (unit.ownership === 'release') updates.push(deleteRrset(unit.ownerRecord.name, 'TXT'));
      }
      // Plain DNS holds one RRset per name and type, so every change replaces the RRset whole.
      const wanted = unit.changes.filter((c) => c.action !== 'delete');
      if (unit.ownership !== 'claim') updates.push(deleteRrset(name, type));
      for (const change of wanted) updates.push(...addRecords(change.set));
    }
    await this.update(prerequisites, updates, signal);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private async query(key: RecordKey, signal?: AbortSignal): Promise<RecordSet | undefined> {
    const id = randomInt(0, 0x10000);
    const message = dnsPacket.encode({
      type: 'query',
      id,
      flags: 0,
      questions: [{ name: key.name, type: key.type, class: 'IN' }],
    });
    const response = await this.exchange(message, signal);
    const rcode = response.readUInt16BE(2) & 0xf;
    if (rcode === 3) return undefined;
    if (rcode !== 0) {
      throw new InfraError(
        'DNS_PROVIDER',
        `query ${key.name} ${key.type} failed: ${RCODE_NAMES[rcode] ?? rcode}`,
      );
    }
    const decoded = dnsPacket.decode(response);
    const values: string[] = [];
    let ttl = Number.POSITIVE_INFINITY;
    for (const answer of decoded.answers ?? []) {
      if (normalizeDnsName(answer.name) !== key.name || answer.type !== key.type) continue;
      if (answer.type === 'TXT') values.push(txtText(answer.data));
      else if (answer.type === 'A' || answer.type === 'AAAA') values.push(canonicalAddress(answer.data));
      ttl = Math.min(ttl, answer.ttl ?? 0);
    }
    if (values.length === 0) return undefined;
    return { name: key.name, type: key.type, ttl, values: sortedValues(values) };
  }

  private async update(
    prerequisites: readonly WireRecord[],
    updates: readonly WireRecord[],
    signal?: AbortSignal,
  ) {
    const message = encodeUpdate(randomInt(0, 0x10000), this.zone, prerequisites, updates);
    const response = await this.exchange(message, signal);
    const rcode = response.readUInt16BE(2) & 0xf;
    if (rcode === 0) return;
    const name = RCODE_NAMES[rcode] ?? String(rcode);
    if (PREREQUISITE_FAILED.has(rcode)) {
      throw new InfraError(
        'DNS_CONFLICT',
        `update of ${this.zone} refused by its prerequisites (${name}): the fence moved to a newer leader or the records changed since they were read; nothing was applied`,
      );
    }
    const hint =
      rcode === 5 || rcode === 9 ? ` (check allow-update / update-policy for key ${this.tsig.name})` : '';
    throw new InfraError('DNS_PROVIDER', `update of ${this.zone} failed: ${name}${hint}`);
  }

  private async exchange(message: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const signed = signMessage(message, this.tsig, this.now());
    const response = await exchangeTcp(this.server, signed.wire, this.timeoutMs, signal);
    if (response.length < 12 || response.readUInt16BE(0) !== message.readUInt16BE(0)) {
      throw new InfraError(
        'DNS_PROVIDER',
        `DNS server ${formatHostPort(this.server)} sent a mismatched answer`,
      );
    }
    const rcode = response.readUInt16BE(2) & 0xf;
    if (rcode === 9 && response.readUInt16BE(10) === 0) {
      throw new InfraError(
        'DNS_PROVIDER',
        `DNS server refused TSIG key ${this.tsig.name} (NOTAUTH): check the key name, algorithm and secret`,
      );
    }
    verifyResponse(response, this.tsig, signed.mac, this.now());
    return response;
  }
}

function txtText(data: unknown): string {
  const parts = Array.isArray(data) ? data : [data];
  return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : String(p))).join('');
}

function addRecords(set: RecordSet): WireRecord[] {
  const type = set.type;
  return set.values.map((v) => ({
    name: set.name,
    type,
    class: 'IN',
    ttl: set.ttl,
    rdata: encodeRdata(type, v),
  }));
}

function deleteRrset(name: string, type: RecordSet['type']): WireRecord {
  return { name, type, class: 'ANY', ttl: 0, rdata: Buffer.alloc(0) };
}

/** Prerequisite "RRset does not exist" (RFC 2136 §2.4.3). */
function absent(name: string, type: RecordSet['type']): WireRecord {
  return { name, type, class: 'NONE', ttl: 0, rdata: Buffer.alloc(0) };
}

/** Prerequisite "RRset exists with exactly these values" (RFC 2136 §2.4.2). */
function presentExactly(set: RecordSet): WireRecord[] {
  return set.values.map((v) => ({
    name: set.name,
    type: set.type,
    class: 'IN',
    ttl: 0,
    rdata: encodeRdata(set.type, v),
  }));
}
