// Cluster-level events from two successive fabric snapshots: clusters joining, going stale (every
// gateway's lease expired), coming back, leaving (deregistered) or being evicted (stale past staleFor),
// gateways joining and leaving, and discovery losing or regaining Redis. Pure.
import type { ClusterView, FabricSnapshot } from '../../discovery/index.js';
import type { FabricEvent } from './fabric-event.js';

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function staleReason(cluster: ClusterView, at: number): string {
  const since = cluster.staleSince;
  const ago = since === undefined ? '' : ` ${seconds(Math.max(0, at - since))} ago`;
  const n = cluster.gateways.length;
  return `the lease of ${n === 1 ? 'its gateway' : `all ${n} of its gateways`} expired${ago} (no heartbeat reached Redis); its services are used only as a last resort`;
}

export function clusterTransitions(
  previous: FabricSnapshot,
  next: FabricSnapshot,
  at: number,
  observer: string,
): FabricEvent[] {
  const events: FabricEvent[] = [];
  const event = (e: Omit<FabricEvent, 'at' | 'observer'>) => events.push({ at, observer, ...e });
  if (previous.connected !== next.connected && previous.source !== 'empty') {
    event(
      next.connected
        ? { kind: 'discovery-connected', reason: 'the change feed from Redis is connected again; caught up' }
        : {
            kind: 'discovery-disconnected',
            reason: 'lost the change feed from Redis; routing on the last snapshot until it returns',
          },
    );
  }
  // The first sync (from nothing or from the disk snapshot) is not news: every cluster would "join".
  const baseline = previous.source === 'empty';
  for (const [name, cluster] of next.clusters) {
    const before = previous.clusters.get(name);
    if (!before) {
      if (!baseline)
        event({
          kind: 'cluster-joined',
          cluster: name,
          reason: `registered ${cluster.gateways.length} gateway(s) in ${cluster.locality.cloud}/${cluster.locality.region}`,
        });
      continue;
    }
    if (before.freshness === 'live' && cluster.freshness === 'stale') {
      event({ kind: 'cluster-stale', cluster: name, reason: staleReason(cluster, at) });
    } else if (before.freshness === 'stale' && cluster.freshness === 'live') {
      event({
        kind: 'cluster-live',
        cluster: name,
        reason: 'a gateway renewed its lease; the cluster is live again',
      });
    }
    const ids = new Set(before.gateways.map((g) => g.id));
    for (const gateway of cluster.gateways) {
      if (!ids.has(gateway.id))
        event({
          kind: 'gateway-joined',
          cluster: name,
          reason: `gateway ${gateway.id} (${gateway.peerAddress}, weft ${gateway.version}) registered`,
        });
    }
    const now = new Set(cluster.gateways.map((g) => g.id));
    for (const gateway of before.gateways) {
      if (!now.has(gateway.id))
        event({
          kind: 'gateway-left',
          cluster: name,
          reason: `gateway ${gateway.id} is gone from the registry`,
        });
    }
  }
  for (const [name, before] of previous.clusters) {
    if (next.clusters.has(name)) continue;
    event(
      before.freshness === 'stale'
        ? {
            kind: 'cluster-evicted',
            cluster: name,
            reason: 'stale for longer than discovery.staleFor; removed from the fabric view',
          }
        : { kind: 'cluster-left', cluster: name, reason: 'its gateways deregistered (shut down cleanly)' },
    );
  }
  return events;
}
