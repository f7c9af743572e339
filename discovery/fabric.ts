// The fabric as one gateway sees it: an immutable snapshot, replaced whole whenever anything changes.
// The data plane reads `snapshot()` per routing decision (a field read, no I/O) and subscribes to changes
// to rebuild its route table. Snapshots are never mutated after they are published.

export type Protocol = 'http' | 'grpc' | 'tcp';

export interface Locality {
  readonly cloud: string;
  readonly region: string;
  readonly zone?: string;
}

/** The most calling clusters one service's `allow` list may name (its record must stay small). */
export const MAX_ALLOWED_CLUSTERS = 1000;

/**
 * A service as one cluster exports it to the fabric: a summary, not the endpoint list. With several
 * gateway replicas in the cluster, each publishes its own; the cluster's view merges them (see
 * ClusterView.services).
 */
export interface ServiceExport {
  readonly name: string;
  readonly namespace: string;
  /** `name.namespace` */
  readonly key: string;
  readonly protocol: Protocol;
  /** Calling clusters allowed; null means every cluster of the fabric. */
  readonly allow: readonly string[] | null;
  readonly endpoints: { readonly total: number; readonly healthy: number };
  /** The service's ports (informational; e.g. for TCP listeners). Absent or empty when not declared. */
  readonly ports?: readonly number[];
}

/** live: lease valid. stale: lease expired less than staleFor ago; usable only as a last resort. */
export type Freshness = 'live' | 'stale';

export interface GatewayRecord {
  readonly cluster: string;
  /** Replica id, unique within the cluster. */
  readonly id: string;
  /** host:port other gateways dial (mTLS). */
  readonly peerAddress: string;
  readonly startedAt: number;
  readonly version: string;
}

export interface GatewayView extends GatewayRecord {
  readonly freshness: Freshness;
  /**
   * Epoch ms (Redis server clock) when the lease ends or ended, as known when this snapshot was built
   * (0 when not known yet). Lease renewals do not publish a new snapshot, so for a countdown read the
   * live value through a LeaseLookup (Discovery.leaseOf).
   */
  readonly leaseExpiresAt: number;
}

/**
 * A gateway's current lease end (epoch ms, Redis server clock), read between snapshots: remote leases
 * as the last lease poll saw them (one poll per heartbeat interval), this gateway's from its own last
 * heartbeat. Undefined when unknown: not in the registry (any more), or before the first registration.
 * A field read, no I/O; safe to call per request.
 */
export type LeaseLookup = (cluster: string, id: string) => number | undefined;

export interface ClusterView {
  readonly name: string;
  readonly locality: Locality;
  readonly freshness: Freshness;
  /** Epoch ms since when every gateway's lease has been expired; undefined while live. */
  readonly staleSince?: number;
  readonly gateways: readonly GatewayView[];
  /**
   * Keyed by `name.namespace`: every service a replica of the cluster exports, from its live gateways
   * (the stale ones when none is live). Protocol, allow list and ports are those of the most recently
   * started replica that exports it (a rollout's new config); the endpoint counts are those of the
   * replica with the most healthy endpoints, so `endpoints.healthy` is the best any replica can serve,
   * and 0 only when none has a healthy endpoint.
   */
  readonly services: ReadonlyMap<string, ServiceExport>;
  /**
   * Keyed like `services`: the ids of the gateways (replicas) that export the service with at least one
   * healthy endpoint, among those `services` comes from. Only these can serve it: another replica of
   * the cluster answers its calls 404 (it does not export the service) or 503 (none of its endpoints is
   * healthy). A service missing here, or with an empty set, is served by none. Absent (a view built by
   * hand): every gateway of the cluster serves every service in `services`.
   */
  readonly servedBy?: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface FabricSnapshot {
  /** Grows by one with every published snapshot. */
  readonly revision: number;
  /** Where the content came from: a Redis sync, the on-disk snapshot at start, or nothing yet. */
  readonly source: 'redis' | 'disk' | 'empty';
  /** Whether the change feed is connected and trusted right now. */
  readonly connected: boolean;
  /** Epoch ms of the last full or incremental sync from Redis; null when never synced. */
  readonly syncedAt: number | null;
  readonly clusters: ReadonlyMap<string, ClusterView>;
}

/** A read-only, always-available view of the fabric. Listeners run synchronously after a swap. */
export interface FabricView {
  snapshot(): FabricSnapshot;
  /** Returns an unsubscribe function. The listener never runs re-entrantly. */
  subscribe(listener: (snapshot: FabricSnapshot) => void): () => void;
}
