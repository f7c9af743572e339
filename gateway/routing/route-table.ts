// The route table: an immutable snapshot built from the local catalog and the fabric view, swapped
// whole whenever either changes (grpc-js's Picker). For each service it holds the local target (this
// cluster's endpoints, weighted) and the remote clusters that export it and allow this cluster, in
// failover order: live clusters by locality (same region → same cloud → others), then stale ones as a
// last resort; a remote cluster's target holds only its gateways (replicas) that serve the service
// (route-targets.ts). `pick` is pure apart from round-robin counters; it never does I/O.
import { formatHostPort } from '../config/index.js';
import { GatewayError } from '../errors.js';
import type { LocalEndpoint, LocalService } from '../catalog/index.js';
import type { ClusterView, FabricSnapshot, GatewayView, Locality, Protocol } from '../../discovery/index.js';
import { byLocality } from './locality-order.js';
import { parseServiceName, type NameScope, type ServiceName } from './service-name.js';
import {
  LocalTarget,
  RemoteTarget,
  type LocalChoice,
  type RemoteChoice,
  type RemoteGateway,
  type RouteTarget,
  type TargetStats,
} from './route-targets.js';
import type { FailoverCandidate, FailoverDecision, FailoverPolicy } from '../resilience/index.js';

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
  /**
   * Statistics for requests from peer cluster `caller` served by this cluster. A function, not a method:
   * routes keep it (see peerStatsOf), without the input it came in.
   */
  readonly peerStatsFor: (this: void, service: string, caller: string) => TargetStats;
  /** Whether a local endpoint is healthy; all are until health checking says otherwise. */
  endpointHealthy?(service: string, endpoint: LocalEndpoint): boolean;
  /** Whether a peer gateway answers probes now (a fast per-request check); all do without it. */
  readonly gatewayUsable?: (key: string) => boolean;
  /**
   * Whether passive outlier detection ejected a peer gateway (`key`) of `cluster`; none is without it.
   * Read when the table is built (the data plane rebuilds it on every ejection and return), never per
   * request: an ejected gateway is picked only when no other gateway serving the service can be.
   */
  readonly gatewayEjected?: (cluster: string, key: string) => boolean;
  /** Cross-cluster failover; without it: local first, then remote clusters in locality order. */
  readonly failover?: RouteFailoverInput;
}

/** What the table needs to ask a service's failover policy where new requests go. */
export interface RouteFailoverInput {
  /** The service's policy, kept by the caller across table generations (hold-downs survive rebuilds). */
  policyFor(service: string): FailoverPolicy;
  clusterRttMs(cluster: string): number | undefined;
  /**
   * Whether a peer gateway (`key`) passes its probes (unknown ones do). A cluster is reachable for a
   * service while one of the gateways serving that service is.
   */
  gatewayReachable(key: string): boolean;
  /** Passive outlier detection ejected the cluster for this service (or all its gateways). */
  clusterEjected(service: string, cluster: string): boolean;
  /** A local endpoint (host:port) is ejected now, whatever the panic rule says. */
  endpointEjected(service: string, endpoint: string): boolean;
}

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
  /** The failover policy's answer for this generation (undefined without failover input). */
  readonly decision: FailoverDecision | undefined;
  /** Local endpoints that pass active health even though ejected: used only when nothing else can serve. */
  readonly panicLocal: LocalTarget | null;
  private readonly ownCluster: string;
  /** Targets in failover order: the decision's clusters by share, then the rest. */
  private readonly ordered: readonly RouteTarget<G>[];
  private readonly single: RouteTarget<G> | undefined;

  constructor(fields: {
    service: string;
    protocol: Protocol;
    ownCluster: string;
    local: LocalTarget | null;
    localService: LocalService | undefined;
    remotes: readonly RemoteTarget<G>[];
    deniedBy: readonly string[];
    unhealthyIn: readonly string[];
    decision?: FailoverDecision;
    panicLocal?: LocalTarget | null;
  }) {
    this.service = fields.service;
    this.protocol = fields.protocol;
    this.ownCluster = fields.ownCluster;
    this.local = fields.local;
    this.localService = fields.localService;
    this.remotes = fields.remotes;
    this.deniedBy = fields.deniedBy;
    this.unhealthyIn = fields.unhealthyIn;
    this.decision = fields.decision;
    this.panicLocal = fields.panicLocal ?? null;
    const all: RouteTarget<G>[] = [...(this.local ? [this.local] : []), ...this.remotes];
    const decided: RouteTarget<G>[] = [];
    for (const { cluster } of this.decision?.shares ?? []) {
      const target = all.find((t) => t.cluster === cluster);
      if (target) decided.push(target);
    }
    this.ordered = [...decided, ...all.filter((t) => !decided.includes(t))];
    this.single = this.decision?.shares.length === 1 ? decided[0] : undefined;
  }

  /**
   * Where the next request goes when the caller pinned no cluster: with a failover decision, a cluster
   * drawn by its share; without one, local first. Either way, a target that cannot take the request now
   * (no responsive gateway) gives way to the next in failover order.
   */
  private pickUnpinned(): RouteTarget<G> | undefined {
    const decision = this.decision;
    if (decision) {
      let target = this.single;
      if (!target && decision.shares.length > 1) {
        const cluster = decision.pick(Math.random());
        target = this.ordered.find((t) => t.cluster === cluster);
      }
      if (target?.available) return target;
    } else if (this.local) {
      return this.local;
    }
    for (const t of this.ordered) if (t.available) return t;
    return this.panicLocal ?? undefined;
  }

  /**
   * For a retry: a local endpoint or peer gateway not tried yet, a fresh draw first, then in failover
   * order; `pinned` keeps it within one cluster.
   */
  pickRetry(tried: ReadonlySet<string>, pinned?: string): LocalChoice | RemoteChoice<G> | undefined {
    if (pinned !== undefined) {
      const target = this.ordered.find((t) => t.cluster === pinned);
      return target?.pickExcept(tried);
    }
    const fresh = this.pickUnpinned();
    const first = fresh?.pickExcept(tried);
    if (first) return first;
    for (const t of this.ordered) {
      const choice = t.pickExcept(tried);
      if (choice) return choice;
    }
    return this.panicLocal?.pickExcept(tried);
  }

  /**
   * The failover decision's cluster (or, without one, local first, else the first remote cluster with an
   * available gateway); `pinned` restricts the choice to one cluster. Stale clusters come last, so they
   * are used only when nothing live can serve.
   */
  pick(pinned?: string): RouteTarget<G> | GatewayError {
    if (pinned === undefined) {
      const target = this.pickUnpinned();
      if (target) return target;
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
      if (this.panicLocal) return this.panicLocal;
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

const NAME_CACHE_LIMIT = 4096;
const NO_GATEWAYS: ReadonlySet<string> = new Set();

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
  const clusters = remoteOrder(input);
  const routes = new Map<string, ServiceRoute<G>>();
  for (const service of services) routes.set(service, buildRoute(service, input, clusters));
  return new RouteTable(revision, input.scope, routes);
}

/**
 * The next generation from `previous`: the routes of the `changed` services are built again, or dropped
 * when neither this cluster nor a remote one has the service any more; every other route is carried over
 * as it is, round-robin position included (see route-changes.ts for what counts as a change).
 */
export function rebuildRouteTable<G extends RemoteGateway>(
  revision: number,
  input: RouteTableInput<G>,
  previous: RouteTable<G>,
  changed: Iterable<string>,
): RouteTable<G> {
  const clusters = remoteOrder(input);
  const routes = new Map(previous.routes);
  for (const service of changed) {
    if (input.local.has(service) || clusters.some((c) => c.services.has(service)))
      routes.set(service, buildRoute(service, input, clusters));
    else routes.delete(service);
  }
  return new RouteTable(revision, input.scope, routes);
}

/** Remote clusters in failover order: live ones by locality, then stale ones. */
function remoteOrder(input: RouteTableInput<RemoteGateway>): ClusterView[] {
  const remoteClusters = byLocality(
    input.locality,
    [...input.fabric.clusters.values()].filter((c) => c.name !== input.cluster),
  );
  return [
    ...remoteClusters.filter((c) => c.freshness === 'live'),
    ...remoteClusters.filter((c) => c.freshness !== 'live'),
  ];
}

/**
 * The stats of `service` served here, per calling cluster. Made outside buildRoute on purpose: a closure
 * made there would hold that rebuild's whole input (its fabric snapshot and catalog) for as long as the
 * route is carried over, one generation per route rebuilt since (some 90 KB each at 2000 services).
 */
function peerStatsOf(
  peerStatsFor: (service: string, caller: string) => TargetStats,
  service: string,
): (caller: string) => TargetStats {
  return (caller) => peerStatsFor(service, caller);
}

function buildRoute<G extends RemoteGateway>(
  service: string,
  input: RouteTableInput<G>,
  clusters: readonly ClusterView[],
): ServiceRoute<G> {
  const localService = input.local.get(service);
  const failover = input.failover;
  const candidates: FailoverCandidate[] = [];
  let local: LocalTarget | null = null;
  let panicLocal: LocalTarget | null = null;
  if (localService) {
    const servable = localService.endpoints.filter(
      (e) => e.weight > 0 && (input.endpointHealthy?.(service, e) ?? true),
    );
    const healthy = failover
      ? servable.filter((e) => !failover.endpointEjected(service, formatHostPort(e)))
      : servable;
    const target = (endpoints: readonly LocalEndpoint[]) =>
      new LocalTarget(
        input.cluster,
        localService,
        endpoints,
        input.statsFor(service, input.cluster),
        peerStatsOf(input.peerStatsFor, service),
      );
    if (healthy.length > 0) local = target(healthy);
    else if (servable.length > 0) panicLocal = target(servable);
    candidates.push({
      name: input.cluster,
      locality: input.locality,
      freshness: 'live',
      healthyEndpoints: servable.length,
      rttMs: 0,
      // Every servable endpoint ejected: fail over first; panic on them only when nothing else can serve.
      ejected: healthy.length === 0,
    });
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
    // Only the replicas that export the service with healthy endpoints serve it (ClusterView.servedBy).
    const servers = cluster.servedBy && (cluster.servedBy.get(service) ?? NO_GATEWAYS);
    const live = cluster.gateways.filter((g) => g.freshness === 'live');
    const serving = (live.length > 0 ? live : cluster.gateways).filter(
      (g) => servers === undefined || servers.has(g.id),
    );
    const healthy = serving.length > 0 ? exported.endpoints.healthy : 0;
    const gateways = serving.map((g) => {
      const { key, gateway } = input.gatewayOf(cluster.name, g);
      return { key, gateway, ejected: input.gatewayEjected?.(cluster.name, key) ?? false };
    });
    if (failover) {
      candidates.push({
        name: cluster.name,
        locality: cluster.locality,
        freshness: cluster.freshness,
        healthyEndpoints: healthy,
        rttMs: failover.clusterRttMs(cluster.name),
        reachable: gateways.length === 0 || gateways.some((g) => failover.gatewayReachable(g.key)),
        ejected:
          failover.clusterEjected(service, cluster.name) ||
          (gateways.length > 0 && gateways.every((g) => g.ejected)),
      });
    }
    if (healthy <= 0) {
      unhealthyIn.push(cluster.name);
      continue;
    }
    remotes.push(
      new RemoteTarget(
        service,
        cluster.name,
        cluster.freshness !== 'live',
        gateways,
        input.statsFor(service, cluster.name),
        input.gatewayUsable,
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
    ...(failover ? { decision: failover.policyFor(service).evaluate(candidates), panicLocal } : {}),
  });
}
