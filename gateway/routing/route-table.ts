// The route table: an immutable snapshot built from the local catalog and the fabric view, swapped
// whole whenever either changes (grpc-js's Picker). For each service it holds the local target (this
// cluster's endpoints, weighted) and the remote clusters that export it and allow this cluster, in
// failover order: live clusters by locality (same region → same cloud → others), then stale ones as a
// last resort. `pick` is pure apart from round-robin counters; it never does I/O.
import { GatewayError } from '../errors.js';
import type { LocalEndpoint, LocalService } from '../catalog/index.js';
import type { ClusterView, FabricSnapshot, GatewayView, Locality, Protocol } from '../../discovery/index.js';
import { byLocality } from './locality-order.js';
import { parseServiceName, type NameScope, type ServiceName } from './service-name.js';
import { WeightedPicker } from './weighted-picker.js';

/** What the table needs of a peer gateway's transport: whether it can take a request now. */
export interface RemoteGateway {
  readonly available: boolean;
}

/** Per-target request statistics, attached by the data plane (metrics children, cached). */
export interface TargetStats {
  record(status: number, seconds: number): void;
}

export interface RouteTableInput<G extends RemoteGateway> {
  readonly cluster: string;
  readonly locality: Locality;
  readonly scope: NameScope;
  readonly local: ReadonlyMap<string, LocalService>;
  readonly fabric: FabricSnapshot;
  /** The transport handle of one gateway of a remote cluster, and a stable key naming it. */
  gatewayOf(cluster: string, gateway: GatewayView): { key: string; gateway: G };
  /** Statistics for requests from this cluster's apps to `destinationCluster`. */
  statsFor(service: string, destinationCluster: string): TargetStats;
  /** Statistics for requests from peer cluster `caller` served by this cluster. */
  peerStatsFor(service: string, caller: string): TargetStats;
  /** Whether a local endpoint is healthy; all are until health checking says otherwise. */
  endpointHealthy?(service: string, endpoint: LocalEndpoint): boolean;
}

/** Who an attempt goes to, precomputed per endpoint or gateway so the hot path builds no strings. */
export interface AttemptTarget {
  readonly service: string;
  readonly cluster: string;
  /** Local endpoint host:port, or the peer gateway's key. */
  readonly via: string;
  readonly remote: boolean;
  /** Statistics of requests from this cluster's apps to this target's cluster. */
  readonly stats: TargetStats;
}

export interface LocalChoice extends AttemptTarget {
  readonly endpoint: LocalEndpoint;
}

export interface RemoteChoice<G> extends AttemptTarget {
  readonly gateway: G;
}

export class LocalTarget {
  readonly kind = 'local';
  readonly cluster: string;
  readonly service: LocalService;
  readonly choices: readonly LocalChoice[];
  private readonly picker: WeightedPicker<LocalChoice>;
  private readonly peerStats = new Map<string, TargetStats>();
  private readonly peerStatsFor: (caller: string) => TargetStats;

  constructor(
    cluster: string,
    service: LocalService,
    endpoints: readonly LocalEndpoint[],
    stats: TargetStats,
    peerStatsFor: (caller: string) => TargetStats,
  ) {
    this.cluster = cluster;
    this.service = service;
    this.choices = endpoints.map((endpoint) => ({
      service: service.key,
      cluster,
      via: formatEndpoint(endpoint),
      remote: false,
      stats,
      endpoint,
    }));
    this.picker = new WeightedPicker(this.choices, (c) => c.endpoint.weight);
    this.peerStatsFor = peerStatsFor;
  }

  pick(): LocalChoice | undefined {
    return this.picker.pick();
  }

  /** Whether calls from `cluster` may reach this service (its allow list). */
  allows(cluster: string): boolean {
    const allow = this.service.allow;
    return allow === null || allow.includes(cluster);
  }

  /** Statistics of requests arriving from peer cluster `caller` (cached per caller). */
  statsForCaller(caller: string): TargetStats {
    let stats = this.peerStats.get(caller);
    if (!stats) {
      stats = this.peerStatsFor(caller);
      this.peerStats.set(caller, stats);
    }
    return stats;
  }
}

export class RemoteTarget<G extends RemoteGateway> {
  readonly kind = 'remote';
  readonly cluster: string;
  readonly stale: boolean;
  readonly choices: readonly RemoteChoice<G>[];
  private next = 0;

  constructor(
    service: string,
    cluster: string,
    stale: boolean,
    gateways: readonly { key: string; gateway: G }[],
    stats: TargetStats,
  ) {
    this.cluster = cluster;
    this.stale = stale;
    this.choices = gateways.map(({ key, gateway }) => ({
      service,
      cluster,
      via: key,
      remote: true,
      stats,
      gateway,
    }));
  }

  /** Round-robin over gateways that can take a request; undefined when none can. */
  pick(): RemoteChoice<G> | undefined {
    const count = this.choices.length;
    for (let tried = 0; tried < count; tried++) {
      const choice = this.choices[this.next] as RemoteChoice<G>;
      this.next = (this.next + 1) % count;
      if (choice.gateway.available) return choice;
    }
    return undefined;
  }

  get available(): boolean {
    for (const choice of this.choices) if (choice.gateway.available) return true;
    return false;
  }
}

export type RouteTarget<G extends RemoteGateway> = LocalTarget | RemoteTarget<G>;

export class ServiceRoute<G extends RemoteGateway> {
  readonly service: string;
  readonly protocol: Protocol;
  /** Healthy local endpoints, or null when this cluster has none. */
  readonly local: LocalTarget | null;
  /** The local service definition even without healthy endpoints (allow list, protocol). */
  readonly localService: LocalService | undefined;
  /** Remote clusters that export the service with healthy endpoints and allow us, in failover order. */
  readonly remotes: readonly RemoteTarget<G>[];
  /** Clusters that export the service but whose allow list excludes this cluster. */
  readonly deniedBy: readonly string[];
  /** Clusters that export the service but report no healthy endpoint. */
  readonly unhealthyIn: readonly string[];
  private readonly ownCluster: string;

  constructor(fields: {
    service: string;
    protocol: Protocol;
    ownCluster: string;
    local: LocalTarget | null;
    localService: LocalService | undefined;
    remotes: readonly RemoteTarget<G>[];
    deniedBy: readonly string[];
    unhealthyIn: readonly string[];
  }) {
    this.service = fields.service;
    this.protocol = fields.protocol;
    this.ownCluster = fields.ownCluster;
    this.local = fields.local;
    this.localService = fields.localService;
    this.remotes = fields.remotes;
    this.deniedBy = fields.deniedBy;
    this.unhealthyIn = fields.unhealthyIn;
  }

  /**
   * Local first, else the first remote cluster with an available gateway; `pinned` restricts the
   * choice to one cluster. Stale clusters come last in `remotes`, so they are used only when nothing
   * live can serve.
   */
  pick(pinned?: string): RouteTarget<G> | GatewayError {
    if (pinned === undefined) {
      if (this.local) return this.local;
      for (const remote of this.remotes) if (remote.available) return remote;
      if (!this.localService && this.remotes.length === 0 && this.unhealthyIn.length === 0) {
        return this.forbidden(this.deniedBy);
      }
      return this.unavailable(
        this.remotes,
        this.localService ? [this.ownCluster, ...this.unhealthyIn] : this.unhealthyIn,
      );
    }
    if (pinned === this.ownCluster) {
      if (this.local) return this.local;
      return this.localService ? this.unavailable([], [pinned]) : this.notExported(pinned);
    }
    for (const remote of this.remotes) {
      if (remote.cluster === pinned) return remote.available ? remote : this.unavailable([remote], []);
    }
    if (this.deniedBy.includes(pinned)) return this.forbidden([pinned]);
    if (this.unhealthyIn.includes(pinned)) return this.unavailable([], [pinned]);
    return this.notExported(pinned);
  }

  private unavailable(unreachable: readonly RemoteTarget<G>[], unhealthy: readonly string[]): GatewayError {
    const details: string[] = [];
    if (unreachable.length > 0)
      details.push(`gateways unreachable in ${unreachable.map((r) => r.cluster).join(', ')}`);
    if (unhealthy.length > 0) details.push(`no healthy endpoints in ${unhealthy.join(', ')}`);
    return new GatewayError(
      'NO_HEALTHY_UPSTREAM',
      `no healthy upstream for service ${this.service}${details.length ? `: ${details.join('; ')}` : ''}`,
    );
  }

  private notExported(cluster: string): GatewayError {
    return new GatewayError('NO_ROUTE', `service ${this.service} is not exported by cluster ${cluster}`);
  }

  private forbidden(clusters: readonly string[]): GatewayError {
    return new GatewayError(
      'FORBIDDEN',
      `cluster ${this.ownCluster} is not allowed to call service ${this.service} (allow list of ${clusters.join(', ')})`,
    );
  }
}

function formatEndpoint(endpoint: LocalEndpoint): string {
  return endpoint.host.includes(':')
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

const NAME_CACHE_LIMIT = 4096;

export class RouteTable<G extends RemoteGateway> {
  readonly revision: number;
  readonly scope: NameScope;
  readonly routes: ReadonlyMap<string, ServiceRoute<G>>;
  private readonly names = new Map<string, ServiceName | null>();

  constructor(revision: number, scope: NameScope, routes: ReadonlyMap<string, ServiceRoute<G>>) {
    this.revision = revision;
    this.scope = scope;
    this.routes = routes;
  }

  /** Parses a Host / :authority into a service name; cached per distinct host. */
  resolve(host: string): ServiceName | undefined {
    const cached = this.names.get(host);
    if (cached !== undefined) return cached ?? undefined;
    const parsed = parseServiceName(host, this.scope) ?? null;
    if (this.names.size >= NAME_CACHE_LIMIT) this.names.clear();
    this.names.set(host, parsed);
    return parsed ?? undefined;
  }

  route(service: string): ServiceRoute<G> | undefined {
    return this.routes.get(service);
  }
}

/** Builds a table generation. Gateways and stats come from the caller's caches, so they outlive tables. */
export function buildRouteTable<G extends RemoteGateway>(
  revision: number,
  input: RouteTableInput<G>,
): RouteTable<G> {
  const services = new Set<string>(input.local.keys());
  for (const cluster of input.fabric.clusters.values()) {
    if (cluster.name === input.cluster) continue;
    for (const key of cluster.services.keys()) services.add(key);
  }
  const remoteClusters = byLocality(
    input.locality,
    [...input.fabric.clusters.values()].filter((c) => c.name !== input.cluster),
  );
  const ordered = [
    ...remoteClusters.filter((c) => c.freshness === 'live'),
    ...remoteClusters.filter((c) => c.freshness !== 'live'),
  ];
  const routes = new Map<string, ServiceRoute<G>>();
  for (const service of services) routes.set(service, buildRoute(service, input, ordered));
  return new RouteTable(revision, input.scope, routes);
}

function buildRoute<G extends RemoteGateway>(
  service: string,
  input: RouteTableInput<G>,
  clusters: readonly ClusterView[],
): ServiceRoute<G> {
  const localService = input.local.get(service);
  let local: LocalTarget | null = null;
  if (localService) {
    const healthy = localService.endpoints.filter(
      (e) => e.weight > 0 && (input.endpointHealthy?.(service, e) ?? true),
    );
    if (healthy.length > 0) {
      local = new LocalTarget(
        input.cluster,
        localService,
        healthy,
        input.statsFor(service, input.cluster),
        (caller) => input.peerStatsFor(service, caller),
      );
    }
  }
  const remotes: RemoteTarget<G>[] = [];
  const deniedBy: string[] = [];
  const unhealthyIn: string[] = [];
  let protocol: Protocol | undefined = localService?.protocol;
  for (const cluster of clusters) {
    const exported = cluster.services.get(service);
    if (!exported) continue;
    protocol ??= exported.protocol;
    if (exported.allow !== null && !exported.allow.includes(input.cluster)) {
      deniedBy.push(cluster.name);
      continue;
    }
    if (exported.endpoints.healthy <= 0) {
      unhealthyIn.push(cluster.name);
      continue;
    }
    const live = cluster.gateways.filter((g) => g.freshness === 'live');
    const usable = live.length > 0 ? live : cluster.gateways;
    if (usable.length === 0) {
      unhealthyIn.push(cluster.name);
      continue;
    }
    const gateways = usable.map((g) => input.gatewayOf(cluster.name, g));
    remotes.push(
      new RemoteTarget(
        service,
        cluster.name,
        cluster.freshness !== 'live',
        gateways,
        input.statsFor(service, cluster.name),
      ),
    );
  }
  return new ServiceRoute({
    service,
    protocol: protocol ?? 'http',
    ownCluster: input.cluster,
    local,
    localService,
    remotes,
    deniedBy,
    unhealthyIn,
  });
}
