// The mutable registry state a reader keeps between snapshots: records by key and each gateway's lease.
// Leases are kept twice: the score Redis holds (server clock) and the same moment on the local clock,
// converted once per distinct score from the server time observed with it, so a skewed local clock
// never expires a lease early. Absence is not information: a full sync that does not find a gateway
// keeps it until its known lease runs out; only an explicit feed event or a reap removes it.
import type { ClusterRecord, GatewayRecordData, StoredService } from './records.js';

export interface GatewayEntry {
  record: GatewayRecordData;
  /** Lease end on the Redis server clock; undefined when never seen. */
  leaseScore: number | undefined;
  /** The same moment on the local clock; -Infinity when never seen. */
  leaseLocalEnd: number;
  services: Map<string, StoredService>;
}

export class FabricModel {
  readonly clusters = new Map<string, ClusterRecord>();
  readonly gateways = new Map<string, GatewayEntry>();
  /** Bumped whenever anything a cluster view shows changes, for structural sharing of views. */
  private readonly versions = new Map<string, number>();
  /** Bumped with every change to any record (not lease renewals): what the disk snapshot tracks. */
  revision = 0;

  version(cluster: string): number {
    return this.versions.get(cluster) ?? 0;
  }

  touch(cluster: string): void {
    this.versions.set(cluster, this.version(cluster) + 1);
    this.revision++;
  }

  upsertCluster(record: ClusterRecord): void {
    const old = this.clusters.get(record.name);
    if (old && sameLocality(old, record)) return;
    this.clusters.set(record.name, record);
    this.touch(record.name);
  }

  upsertGateway(gk: string, record: GatewayRecordData): GatewayEntry {
    const entry = this.gateways.get(gk);
    if (!entry) {
      const created: GatewayEntry = {
        record,
        leaseScore: undefined,
        leaseLocalEnd: -Infinity,
        services: new Map(),
      };
      this.gateways.set(gk, created);
      this.touch(record.cluster);
      return created;
    }
    const old = entry.record;
    if (
      old.peerAddress !== record.peerAddress ||
      old.startedAt !== record.startedAt ||
      old.version !== record.version
    ) {
      entry.record = record;
      this.touch(record.cluster);
    }
    return entry;
  }

  /**
   * Records a lease score seen at `serverNow`; converts it to the local clock only when it changed (or
   * when `force`d, after a full sync), so an unchanged lease keeps its end whatever the clocks do since.
   */
  setLease(gk: string, score: number, serverNow: number, localNow: number, force = false): boolean {
    const entry = this.gateways.get(gk);
    if (!entry || (entry.leaseScore === score && !force)) return false;
    entry.leaseScore = score;
    entry.leaseLocalEnd = localNow + (score - serverNow);
    return true;
  }

  /** Replaces a gateway's services; `keepOld` names keys whose stored record was unreadable. */
  replaceServices(gk: string, next: Map<string, StoredService>, keepOld: readonly string[]): void {
    const entry = this.gateways.get(gk);
    if (!entry) return;
    for (const key of keepOld) {
      const old = entry.services.get(key);
      if (old) next.set(key, old);
    }
    if (sameServices(entry.services, next)) return;
    entry.services = next;
    this.touch(entry.record.cluster);
  }

  patchService(gk: string, key: string, service: StoredService | null): void {
    const entry = this.gateways.get(gk);
    if (!entry) return;
    const old = entry.services.get(key);
    if (service === null) {
      if (!old) return;
      entry.services.delete(key);
    } else {
      if (old?.text === service.text) return;
      entry.services.set(key, service);
    }
    this.touch(entry.record.cluster);
  }

  removeGateway(gk: string): void {
    const entry = this.gateways.get(gk);
    if (!entry) return;
    this.gateways.delete(gk);
    this.touch(entry.record.cluster);
    this.dropClusterIfUnused(entry.record.cluster);
  }

  private dropClusterIfUnused(cluster: string): void {
    for (const entry of this.gateways.values()) if (entry.record.cluster === cluster) return;
    this.clusters.delete(cluster);
    this.versions.delete(cluster);
  }

  /** Gateways grouped by cluster name. */
  byCluster(): Map<string, Array<[string, GatewayEntry]>> {
    const groups = new Map<string, Array<[string, GatewayEntry]>>();
    for (const [gk, entry] of this.gateways) {
      const list = groups.get(entry.record.cluster);
      if (list) list.push([gk, entry]);
      else groups.set(entry.record.cluster, [[gk, entry]]);
    }
    return groups;
  }
}

function sameLocality(a: ClusterRecord, b: ClusterRecord): boolean {
  return (
    a.locality.cloud === b.locality.cloud &&
    a.locality.region === b.locality.region &&
    a.locality.zone === b.locality.zone
  );
}

function sameServices(a: Map<string, StoredService>, b: Map<string, StoredService>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, service] of a) if (b.get(key)?.text !== service.text) return false;
  return true;
}
