// What the DNS publisher is asked to publish: records backed by clusters' public ingress addresses, and
// the health of those clusters. Plain input types, independent of the gateway config: the gateway maps its
// config and discovery's FabricView into these.
import { isIP } from 'node:net';
import { canonicalIp } from '../ip-address.js';
import { InfraError } from '../errors.js';

export type AddressRecordType = 'A' | 'AAAA';

/**
 * failover: the highest-priority healthy cluster answers (Route 53: PRIMARY plus the next as SECONDARY).
 * weighted: every healthy cluster, in proportion to its weight (weights are a Route 53 feature).
 * multivalue: every healthy cluster's addresses.
 */
export type RoutingPolicy = 'failover' | 'weighted' | 'multivalue';

export interface DnsTarget {
  readonly cluster: string;
  /** Public ingress addresses of the cluster's gateways (IPv4 for A, IPv6 for AAAA). */
  readonly addresses: readonly string[];
  /** failover order: lower is preferred. */
  readonly priority: number;
  /** weighted share, 0–255 (Route 53 semantics). */
  readonly weight: number;
}

export interface DnsRecordSpec {
  /** Fully qualified, lower-case, without the trailing dot: `api.example.com`. */
  readonly name: string;
  readonly type: AddressRecordType;
  readonly ttl: number;
  readonly routing: RoutingPolicy;
  readonly targets: readonly DnsTarget[];
}

/** One cluster's health as the publisher consumes it; a cluster missing from the list counts as down. */
export interface ClusterHealth {
  readonly cluster: string;
  readonly healthy: boolean;
}

const NAME = /^(?=.{1,253}$)[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?(\.[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?)*$/;
const OWNER_ID = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/;

export function normalizeDnsName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** True when `name` is `zone` or lies inside it. */
export function isInZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

/** Throws DNS_INVALID listing every problem; the config schema catches the same problems earlier. */
export function validateRecordSpecs(specs: readonly DnsRecordSpec[], zone: string, ownerId: string): void {
  const problems: string[] = [];
  if (!OWNER_ID.test(ownerId))
    problems.push(`ownerId "${ownerId}" must be a DNS label of at most 40 characters`);
  if (!NAME.test(zone)) problems.push(`zone "${zone}" is not a lower-case DNS name`);
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    const at = `records[${i}] (${spec.name} ${spec.type})`;
    if (!NAME.test(spec.name)) problems.push(`${at}: name is not a lower-case DNS name`);
    else if (!isInZone(spec.name, zone)) problems.push(`${at}: name is outside zone ${zone}`);
    if (spec.name.split('.')[0]?.startsWith('_weft'))
      problems.push(`${at}: names starting with _weft are reserved`);
    const key = `${spec.name} ${spec.type}`;
    if (seen.has(key)) problems.push(`${at}: listed twice`);
    seen.add(key);
    if (!Number.isInteger(spec.ttl) || spec.ttl < 0 || spec.ttl > 2_147_483_647) {
      problems.push(`${at}: ttl must be an integer number of seconds`);
    }
    if (spec.targets.length === 0) problems.push(`${at}: needs at least one target`);
    const clusters = new Set<string>();
    for (const target of spec.targets) {
      if (clusters.has(target.cluster)) problems.push(`${at}: cluster ${target.cluster} is listed twice`);
      clusters.add(target.cluster);
      if (target.addresses.length === 0) problems.push(`${at}: cluster ${target.cluster} has no addresses`);
      const family = spec.type === 'A' ? 4 : 6;
      for (const address of target.addresses) {
        // canonicalIp refuses a zone id ("fe80::1%eth0"): it names an interface of one host, not an address.
        if (isIP(address) !== family || canonicalIp(address) === undefined)
          problems.push(`${at}: "${address}" is not an ${spec.type === 'A' ? 'IPv4' : 'IPv6'} address`);
      }
      if (!Number.isInteger(target.weight) || target.weight < 0 || target.weight > 255) {
        problems.push(`${at}: cluster ${target.cluster} weight must be an integer 0–255`);
      }
      if (!Number.isInteger(target.priority) || target.priority < 0) {
        problems.push(`${at}: cluster ${target.cluster} priority must be a non-negative integer`);
      }
    }
  });
  if (problems.length > 0) {
    throw new InfraError('DNS_INVALID', `invalid DNS records:\n  ${problems.join('\n  ')}`);
  }
}
