// The Watch stream's message: one fabric snapshot as a FabricState. Pure; clusters and services sorted by
// name so that agents can diff consecutive states cheaply.
import type { FabricSnapshot } from '../../discovery/index.js';
import type { ClusterMessage, FabricStateMessage } from './registry-proto.js';
import { compareNames } from '../../discovery/index.js';

export function fabricState(snapshot: FabricSnapshot, initial: boolean): FabricStateMessage {
  const clusters: ClusterMessage[] = [...snapshot.clusters.values()]
    .sort((a, b) => compareNames(a.name, b.name))
    .map((cluster) => ({
      name: cluster.name,
      locality: {
        cloud: cluster.locality.cloud,
        region: cluster.locality.region,
        zone: cluster.locality.zone ?? '',
      },
      freshness: cluster.freshness,
      staleSinceMs: cluster.staleSince ?? 0,
      gateways: [...cluster.gateways]
        .sort((a, b) => compareNames(a.id, b.id))
        .map((g) => ({
          id: g.id,
          peerAddress: g.peerAddress,
          version: g.version,
          freshness: g.freshness,
          leaseExpiresAtMs: g.leaseExpiresAt,
        })),
      services: [...cluster.services.values()]
        .sort((a, b) => compareNames(a.key, b.key))
        .map((s) => ({
          service: s.key,
          protocol: s.protocol,
          allow: s.allow ? [...s.allow] : [],
          endpointsTotal: s.endpoints.total,
          endpointsHealthy: s.endpoints.healthy,
        })),
    }));
  return {
    revision: snapshot.revision,
    initial,
    source: snapshot.source,
    connected: snapshot.connected,
    syncedAtMs: snapshot.syncedAt ?? 0,
    clusters,
  };
}
