// Turns one fabric snapshot (plus the local catalog) into the admin API's JSON. Pure: the caller passes
// the clock reading, so one request renders one consistent picture. Snapshots are rebuilt only when the
// fabric changes, so what moves between rebuilds comes from live sources: lease ends from a LeaseLookup,
// the sync age from discovery's status.
import type { ClusterView, FabricSnapshot, GatewayView, LeaseLookup } from '../../discovery/index.js';
import type { LocalService } from '../catalog/index.js';
import type {
  ClusterJson,
  DiscoveryJson,
  GatewayIdentity,
  GatewayJson,
  LocalEndpointJson,
  ServiceExportJson,
  ServiceJson,
} from './api-types.js';
import { compareNames } from '../../discovery/index.js';

export interface ReportInput {
  readonly snapshot: FabricSnapshot;
  readonly local: ReadonlyMap<string, LocalService>;
  readonly identity: GatewayIdentity;
  readonly nowMs: number;
  /** Live lease ends; without it (or for a gateway it does not know) the snapshot's value is shown. */
  readonly leaseOf?: LeaseLookup;
}

/** Local cluster first, then by name. */
function orderedClusters(input: ReportInput): ClusterView[] {
  const local = input.identity.cluster;
  return [...input.snapshot.clusters.values()].sort((a, b) =>
    a.name === local ? -1 : b.name === local ? 1 : compareNames(a.name, b.name),
  );
}

function gatewayJson(gateway: GatewayView, input: ReportInput): GatewayJson {
  const leaseExpiresAt = input.leaseOf?.(gateway.cluster, gateway.id) ?? gateway.leaseExpiresAt;
  // Discovery reports 0 for a lease it does not know yet.
  const known = leaseExpiresAt > 0;
  return {
    cluster: gateway.cluster,
    id: gateway.id,
    peerAddress: gateway.peerAddress,
    version: gateway.version,
    startedAt: gateway.startedAt,
    freshness: gateway.freshness,
    leaseExpiresAt: known ? leaseExpiresAt : null,
    leaseRemainingMs: known ? leaseExpiresAt - input.nowMs : null,
    self: gateway.cluster === input.identity.cluster && gateway.id === input.identity.gatewayId,
  };
}

export function clustersJson(input: ReportInput): ClusterJson[] {
  return orderedClusters(input).map((cluster) => ({
    name: cluster.name,
    local: cluster.name === input.identity.cluster,
    locality: cluster.locality,
    freshness: cluster.freshness,
    staleSince: cluster.staleSince ?? null,
    staleForMs: cluster.staleSince === undefined ? null : Math.max(0, input.nowMs - cluster.staleSince),
    gateways: [...cluster.gateways]
      .sort((a, b) => compareNames(a.id, b.id))
      .map((g) => gatewayJson(g, input)),
    services: [...cluster.services.keys()].sort(),
  }));
}

export function gatewaysJson(input: ReportInput): GatewayJson[] {
  return orderedClusters(input).flatMap((cluster) =>
    [...cluster.gateways].sort((a, b) => compareNames(a.id, b.id)).map((g) => gatewayJson(g, input)),
  );
}

export function servicesJson(input: ReportInput): ServiceJson[] {
  const byKey = new Map<string, { name: string; namespace: string; exports: ServiceExportJson[] }>();
  const entry = (key: string, name: string, namespace: string) => {
    let found = byKey.get(key);
    if (!found) {
      found = { name, namespace, exports: [] };
      byKey.set(key, found);
    }
    return found;
  };
  for (const cluster of orderedClusters(input)) {
    const local = cluster.name === input.identity.cluster;
    for (const service of cluster.services.values()) {
      entry(service.key, service.name, service.namespace).exports.push({
        cluster: cluster.name,
        local,
        freshness: cluster.freshness,
        protocol: service.protocol,
        allow: service.allow,
        endpoints: { total: service.endpoints.total, healthy: service.endpoints.healthy },
      });
    }
  }
  for (const service of input.local.values()) {
    const found = entry(service.key, service.name, service.namespace);
    if (found.exports.some((e) => e.local)) continue;
    found.exports.unshift({
      cluster: input.identity.cluster,
      local: true,
      freshness: 'unpublished',
      protocol: service.protocol,
      allow: service.allow,
      endpoints: { total: service.endpoints.length, healthy: null },
    });
  }
  return [...byKey.entries()]
    .sort(([a], [b]) => compareNames(a, b))
    .flatMap(([key, { name, namespace, exports }]) => {
      const first = exports[0];
      if (!first) return [];
      return [{ service: key, name, namespace, protocol: first.protocol, clusters: exports }];
    });
}

/**
 * When discovery last heard from Redis, from its status report (`lastContactAt`, `snapshotAgeMs`, as
 * DiscoveryStatus has them): the snapshot's syncedAt is only as new as the last rebuild. Undefined when
 * the status does not carry them.
 */
function liveSync(status: unknown): { syncedAt: number | null; ageMs: number | null } | undefined {
  if (status === null || typeof status !== 'object') return undefined;
  const { lastContactAt, snapshotAgeMs } = status as Record<string, unknown>;
  const ageOk = snapshotAgeMs === null || (typeof snapshotAgeMs === 'number' && snapshotAgeMs >= 0);
  const atOk = lastContactAt === null || typeof lastContactAt === 'number';
  if (!ageOk || !atOk) return undefined;
  return { syncedAt: lastContactAt, ageMs: snapshotAgeMs };
}

export function discoveryJson(input: ReportInput, status: unknown): DiscoveryJson {
  const { snapshot } = input;
  const sync = liveSync(status);
  const syncedAt = sync?.syncedAt ?? snapshot.syncedAt;
  let live = 0;
  let stale = 0;
  for (const cluster of snapshot.clusters.values()) {
    if (cluster.freshness === 'live') live++;
    else stale++;
  }
  return {
    revision: snapshot.revision,
    source: snapshot.source,
    connected: snapshot.connected,
    syncedAt,
    snapshotAgeMs: sync ? sync.ageMs : syncedAt === null ? null : Math.max(0, input.nowMs - syncedAt),
    clusters: { live, stale },
    lastError: lastErrorOf(status),
    status,
  };
}

function lastErrorOf(status: unknown): string | null {
  if (status === null || typeof status !== 'object') return null;
  const { lastError } = status as Record<string, unknown>;
  return typeof lastError === 'string' ? lastError : null;
}

export function catalogEndpointsJson(local: ReadonlyMap<string, LocalService>): LocalEndpointJson[] {
  return [...local.values()]
    .sort((a, b) => compareNames(a.key, b.key))
    .flatMap((service) =>
      service.endpoints.map((e) => ({ service: service.key, host: e.host, port: e.port, weight: e.weight })),
    );
}
