// What the registry reports about itself, for the admin API, `weft status` and the metrics.
import type { FabricSnapshot } from './fabric.js';
import type { SkipReason } from './records.js';

/**
 * idle: not started; starting: start() not finished; live: synced and following the change feed;
 * disconnected: Redis unreachable (or not yet synced), routing on the last snapshot; closed: closed.
 */
export type DiscoveryMode = 'idle' | 'starting' | 'live' | 'disconnected' | 'closed';

export interface StaleClusterStatus {
  readonly name: string;
  /** Server-clock epoch ms when the last lease of the cluster ended. */
  readonly staleSince: number | null;
  /** When it will be evicted unless a lease is renewed (same clock). */
  readonly evictAt: number | null;
}

export interface SkippedRecord {
  readonly key: string;
  readonly reason: SkipReason;
  readonly detail: string;
  readonly at: number;
}

export interface DiscoveryStatus {
  readonly mode: DiscoveryMode;
  /** The change feed is connected and trusted. */
  readonly connected: boolean;
  /** A full sync from Redis has succeeded at least once. */
  readonly synced: boolean;
  /** Topology and addresses, no credentials. */
  readonly redis: string;
  readonly source: FabricSnapshot['source'];
  readonly revision: number;
  /** Time since the last successful read from Redis (or the disk snapshot's own age); null when never. */
  readonly snapshotAgeMs: number | null;
  /** Epoch ms of the last successful read from Redis. */
  readonly lastContactAt: number | null;
  /** Epoch ms of the last full sync. */
  readonly lastSyncAt: number | null;
  readonly fullSyncs: number;
  /** Local clock minus the Redis server clock, ms. */
  readonly clockSkewMs: number;
  readonly feed: {
    readonly lastId: string | null;
    readonly lastSeq: number | null;
    readonly lagMs: number | null;
  };
  readonly lease: {
    readonly ttlMs: number;
    /** Server-clock epoch ms when this gateway's lease ends; null before the first registration. */
    readonly expiresAt: number | null;
    readonly lastHeartbeatAt: number | null;
  };
  readonly clusters: {
    readonly live: readonly string[];
    readonly stale: readonly StaleClusterStatus[];
    /** Most recent first, at most 20. */
    readonly evicted: readonly { readonly name: string; readonly at: number }[];
  };
  /** Service exports in the view, summed over clusters. */
  readonly services: number;
  readonly skippedRecords: {
    readonly total: number;
    readonly byReason: Readonly<Partial<Record<SkipReason, number>>>;
    /** Most recent first, at most 20. */
    readonly recent: readonly SkippedRecord[];
  };
  /** Own records not yet known to be in Redis: coalesced latest state, bounded by the local set. */
  readonly pendingWrites: number;
  readonly lastError: string | null;
  readonly snapshotFile: {
    readonly path: string;
    readonly loadedAt: number | null;
    readonly lastWriteAt: number | null;
    readonly lastError: string | null;
  };
}

/** Live and stale clusters of a snapshot, and the number of service exports in it. */
export function summarizeClusters(
  snapshot: FabricSnapshot,
  staleForMs: number,
): { live: string[]; stale: StaleClusterStatus[]; services: number } {
  const live: string[] = [];
  const stale: StaleClusterStatus[] = [];
  let services = 0;
  for (const cluster of snapshot.clusters.values()) {
    services += cluster.services.size;
    if (cluster.freshness === 'live') {
      live.push(cluster.name);
      continue;
    }
    const since = cluster.staleSince ?? null;
    stale.push({
      name: cluster.name,
      staleSince: since,
      evictAt: since === null ? null : since + staleForMs,
    });
  }
  return { live, stale, services };
}
