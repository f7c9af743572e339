// The admin API's JSON shapes (`/api/v1/...`). Field names are a contract: `weft status`, dashboards and
// scripts read them, so fields are only ever added. Times are epoch milliseconds (`…At`), durations are
// milliseconds (`…Ms`); a value that does not apply is null, never absent.
import type { Freshness, Locality, Protocol } from '../../discovery/index.js';

/** Who answers: set once by the composition root. */
export interface GatewayIdentity {
  readonly cluster: string;
  readonly gatewayId: string;
  readonly version: string;
  readonly locality: Locality;
}

/**
 * live / stale as discovery reports them; `unpublished`: served by this cluster's local catalog but not
 * (yet) visible in the fabric view, e.g. before the first sync with Redis.
 */
export type ExportFreshness = Freshness | 'unpublished';

export interface GatewayJson {
  readonly cluster: string;
  readonly id: string;
  readonly peerAddress: string;
  readonly version: string;
  readonly startedAt: number;
  readonly freshness: Freshness;
  /** Redis server clock; null while not known (this gateway before its first registration). */
  readonly leaseExpiresAt: number | null;
  /** leaseExpiresAt minus now on this gateway's clock; negative once expired; null while not known. */
  readonly leaseRemainingMs: number | null;
  /** True for the gateway answering this request. */
  readonly self: boolean;
}

export interface ClusterJson {
  readonly name: string;
  /** True for the cluster this gateway belongs to. */
  readonly local: boolean;
  readonly locality: Locality;
  readonly freshness: Freshness;
  readonly staleSince: number | null;
  /** How long the cluster has been stale; null while live. */
  readonly staleForMs: number | null;
  readonly gateways: readonly GatewayJson[];
  /** Service keys (`name.namespace`) the cluster exports. */
  readonly services: readonly string[];
}

export interface ServiceExportJson {
  readonly cluster: string;
  readonly local: boolean;
  readonly freshness: ExportFreshness;
  readonly protocol: Protocol;
  /** Calling clusters allowed; null means every cluster. */
  readonly allow: readonly string[] | null;
  /** healthy is null when not known (an unpublished local service before health checks report). */
  readonly endpoints: { readonly total: number; readonly healthy: number | null };
}

export interface ServiceJson {
  /** `name.namespace` */
  readonly service: string;
  readonly name: string;
  readonly namespace: string;
  /** The protocol of the local export if there is one, else of the first exporting cluster. */
  readonly protocol: Protocol;
  /** Local cluster first, then by name. */
  readonly clusters: readonly ServiceExportJson[];
}

export interface DiscoveryJson {
  readonly revision: number;
  readonly source: 'redis' | 'disk' | 'empty';
  /** Whether the change feed is connected and trusted right now. */
  readonly connected: boolean;
  /** Epoch ms when Redis last answered discovery (a sync, feed read or lease poll); else the disk snapshot's. */
  readonly syncedAt: number | null;
  /** now minus syncedAt: how old the routing information may be; null when never synced. */
  readonly snapshotAgeMs: number | null;
  readonly clusters: { readonly live: number; readonly stale: number };
  /** The last Redis error discovery met (WRONGPASS, a TLS failure, …), null if none yet: the cause of an outage. */
  readonly lastError: string | null;
  /** Discovery's own status report (lease, evictions, Redis mode), passed through as it gives it. */
  readonly status: unknown;
}

export interface ClustersResponse {
  readonly revision: number;
  readonly clusters: readonly ClusterJson[];
}

export interface GatewaysResponse {
  readonly revision: number;
  readonly gateways: readonly GatewayJson[];
}

export interface ServicesResponse {
  readonly revision: number;
  readonly services: readonly ServiceJson[];
}

export interface RoutesResponse {
  /** `data-plane`: the live route table; `none`: no data plane attached to this admin server. */
  readonly source: 'data-plane' | 'none';
  /** The route table's revision; null without a data plane. */
  readonly revision: number | null;
  readonly routes: unknown;
}

export interface LocalEndpointJson {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
}

export interface EndpointsResponse {
  /** `data-plane`: endpoints with health as the data plane sees them; `catalog`: configured only. */
  readonly source: 'data-plane' | 'catalog';
  readonly endpoints: unknown;
  /** Connections to other clusters' gateways as the data plane reports them; null without one. */
  readonly peers: unknown;
  /** Connections to local endpoints, per endpoint (open, idle, streams); null without a data plane. */
  readonly upstreamPools: unknown;
}

/** `/api/v1/status`: everything `weft status` shows, from one snapshot. */
export interface StatusResponse {
  readonly gateway: GatewayIdentity & { readonly ready: boolean };
  readonly discovery: DiscoveryJson;
  readonly clusters: readonly ClusterJson[];
  readonly services: readonly ServiceJson[];
}

export interface ErrorResponse {
  readonly error: { readonly code: string; readonly message: string };
}
