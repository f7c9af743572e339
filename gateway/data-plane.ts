// The data plane of one gateway: the outbound listener (local apps, HTTP/1.1 + h2c/gRPC on one port),
// the peer listener (mTLS from other gateways), the tcp: listeners, the route table rebuilt from the
// local catalog and the fabric view, pooled connections to local endpoints, and the multiplexed mTLS
// transport to peer gateways. Lifecycle: construct (no side effects) → start → updateConfig/updateTls
// while running → drain (stop accepting, let in-flight finish, deadline) → close.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { FabricSnapshot, FabricView } from '../discovery/index.js';
import { parseCertificateBundle } from '../infra/index.js';
import type { LocalCatalog, LocalEndpoint, LocalService } from './catalog/index.js';
import { formatHostPort, type GatewayConfig } from './config/index.js';
import { IdleStreams } from './listeners/idle-streams.js';
import { OutboundListener } from './listeners/outbound-listener.js';
import { OutboundRouter } from './listeners/outbound-router.js';
import { OutboundTunnels } from './listeners/outbound-tunnels.js';
import { PeerListener } from './listeners/peer-listener.js';
import { PeerRouter } from './listeners/peer-router.js';
import { RequestMetrics } from './listeners/request-metrics.js';
import { TcpListeners } from './listeners/tcp-listeners.js';
import { DataPathObservers, type GoldenMetrics } from './observability/index.js';
import type { OutcomeListener } from './routing/outcome.js';
import {
  buildRouteTable,
  rebuildRouteTable,
  type RouteTable,
  type RouteTableInput,
} from './routing/route-table.js';
import {
  addServicesOfChangedLinks,
  changedServices,
  rttTierChanges,
  servicesReRankedByRtt,
  type RouteInputs,
} from './routing/route-changes.js';
import { RttSample } from './routing/rtt-sample.js';
import { Departures, type RetirementOptions } from './routing/departures.js';
import {
  PeerTransport,
  peerKey,
  type PeerGateway,
  type PeerState,
  type PeerTransportOptions,
  type TlsCredentials,
} from './transport/peer-transport.js';
import {
  LOCAL_UPSTREAM_DEFAULTS,
  LocalUpstreams,
  type LocalUpstreamOptions,
} from './upstream/local-upstreams.js';
import {
  logFailoverEvent,
  PeerHealthProber,
  type FailoverMetrics,
  type FailoverMetricSources,
} from './health/index.js';
import {
  FailoverPolicy,
  monotonicClock,
  ResilienceRegistry,
  rttTier,
  type FailoverEvent,
  type OutlierTracker,
} from './resilience/index.js';
import { servicePolicy } from './config/index.js';

export interface DataPlaneOptions {
  readonly config: GatewayConfig;
  readonly view: FabricView;
  readonly catalog: LocalCatalog;
  /** The gateway's certificate, key and trust bundle (a TlsMaterialSnapshot fits). */
  readonly tls: TlsCredentials;
  readonly metrics: Registry;
  readonly logger: Logger;
  /** Where access log lines go (observability.accessLogSampleRate > 0); defaults to `logger`. */
  readonly accessLogger?: Logger;
  /** Golden metrics (rate, success, latency per edge) that outbound requests record into. */
  readonly golden?: GoldenMetrics;
  /** One report per upstream attempt (health, outlier ejection, retries build on this). */
  readonly onOutcome?: OutcomeListener;
  /**
   * Whether a local endpoint may receive traffic; call `requestRefresh([service])` when the answer changes
   * for a service's endpoints.
   */
  readonly endpointHealthy?: (service: string, endpoint: LocalEndpoint) => boolean;
  /** Passive outlier detection (ejected endpoints, gateways and clusters steer failover). */
  readonly outliers?: OutlierTracker;
  /** Where failover transitions, retries and refusals are counted. */
  readonly failoverMetrics?: FailoverMetrics;
  /**
   * Each failover, failback and routing-mode change of a service, as its policy decides it (synchronously,
   * during a route rebuild), after the data plane has logged and counted it: the admin server's events.
   */
  readonly onFailover?: (event: FailoverEvent) => void;
  /**
   * When the state of a departed service or cluster (request metrics, failover policy, retry budget,
   * circuit breakers, their series) goes; default 10 minutes after it left.
   */
  readonly retirement?: RetirementOptions;
  /** Peer transport tuning (timeouts, pings, backoff); defaults suit production. */
  readonly peerTransport?: Partial<
    Omit<PeerTransportOptions, 'trustDomain' | 'tls' | 'onConnectionsChanged'>
  >;
  /** Connection pools to local endpoints (connections and queue per endpoint); defaults suit production. */
  readonly localUpstreams?: Partial<LocalUpstreamOptions>;
}

export interface RouteState {
  readonly service: string;
  readonly protocol: string;
  /** Local endpoints that receive traffic (host:port), empty when the service is served elsewhere. */
  readonly local: readonly string[];
  /** Remote clusters in failover order. */
  readonly failover: readonly {
    readonly cluster: string;
    readonly stale: boolean;
    readonly gateways: readonly { readonly gateway: string; readonly available: boolean }[];
  }[];
  readonly deniedBy: readonly string[];
  readonly unhealthyIn: readonly string[];
  /** The failover policy's mode and each cluster's share of new requests. */
  readonly mode?: string;
  readonly shares?: readonly { readonly cluster: string; readonly share: number }[];
}

export interface EndpointState {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly healthy: boolean;
}

export interface DataPlaneState {
  readonly revision: number;
  readonly listeners: {
    readonly outbound: string;
    readonly peer: string;
    readonly tcp: readonly { listen: string; service: string }[];
  };
  readonly routes: readonly RouteState[];
  readonly peers: readonly PeerState[];
  readonly endpoints: readonly EndpointState[];
  readonly upstreamPools: ReturnType<LocalUpstreams['stats']>;
}

const DRAIN_POLL_MS = 50;
/** A route rebuild that took this long paces the next (requestRefresh): thousands of services. */
const PACED_REFRESH_MS = 5;
/** How long route decisions keep a remote cluster's measured RTT before reading it again (RttSample). */
const RTT_HOLD_MS = 10_000;

export class DataPlane {
  private config: GatewayConfig;
  private readonly options: DataPlaneOptions;
  private readonly logger: Logger;
  private readonly metrics: RequestMetrics;
  private readonly peers: PeerTransport;
  /** The CA bundle peers are verified under (see updateTls). */
  private trustAnchors: Buffer;
  private readonly upstreams: LocalUpstreams;
  private readonly outbound: OutboundListener;
  private readonly peerListener: PeerListener;
  private readonly peerRouter: PeerRouter;
  private readonly tcp: TcpListeners;
  private readonly idleStreams = new IdleStreams();
  private table: RouteTable<PeerGateway>;
  private revision = 0;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly prober: PeerHealthProber;
  private readonly policies = new Map<string, FailoverPolicy>();
  private readonly resilience: ResilienceRegistry;
  private readonly departedServices: Departures;
  private readonly departedClusters: Departures;
  private retireTimer: NodeJS.Timeout | undefined;
  /** Access log and span export (observability config); undefined observers while both are off. */
  private readonly observers: DataPathObservers;
  private reevaluateTimer: NodeJS.Timeout | undefined;
  /** A rebuild asked for by a change and not yet made (requestRefresh), and its timer when paced. */
  private refreshPending = false;
  /** What the last rebuild read; the next rebuilds only the services whose inputs changed since. */
  private routeInputs: RouteInputs | undefined;
  /** Services a change named that the inputs cannot show (local endpoint health, ejections); or all. */
  private readonly namedChanges = new Set<string>();
  private everyRouteChanged = true;
  /** The remote clusters' RTTs as route decisions read them. */
  private readonly rtts: RttSample;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** When the last rebuild ended and how long it took (monotonic ms): the pace of the next one. */
  private lastRefresh = { endedAt: 0, tookMs: 0 };
  private rebuilds = 0;
  private draining: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: DataPlaneOptions) {
    this.options = options;
    this.config = options.config;
    this.logger = options.logger;
    this.trustAnchors = options.tls.ca;
    const config = options.config;
    this.peers = new PeerTransport({
      ...options.peerTransport,
      trustDomain: config.trustDomain,
      tls: options.tls,
    });
    this.metrics = new RequestMetrics(options.metrics, () => this.peers.connectionCounts(), options.golden);
    this.departedServices = new Departures(options.retirement);
    this.departedClusters = new Departures(options.retirement);
    this.upstreams = new LocalUpstreams({ ...LOCAL_UPSTREAM_DEFAULTS, ...options.localUpstreams });
    this.prober = new PeerHealthProber({
      ...config.failover.peerProbe,
      ping: (peer, signal) => this.peers.ping(peer.key, signal),
      logger: options.logger.child({ component: 'peer-probe' }),
    });
    this.resilience = new ResilienceRegistry(config, options.failoverMetrics);
    const prober = this.prober;
    this.rtts = new RttSample((cluster) => prober.clusterRttMs(cluster), RTT_HOLD_MS, monotonicClock);
    this.table = buildRouteTable(
      ++this.revision,
      this.tableInput(options.view.snapshot(), options.catalog.services()),
    );
    const observers = (this.observers = new DataPathObservers(
      config.observability,
      config.cluster,
      options.accessLogger ?? options.logger,
      options.logger,
    ));
    const outboundContext = {
      cluster: config.cluster,
      table: () => this.table,
      upstreams: this.upstreams,
      noRouteStats: this.metrics.statsFor('outbound', config.cluster, '(unknown)', '(none)'),
      unservedStatsFor: (service: string) =>
        this.metrics.statsFor('outbound', config.cluster, service, '(none)'),
      onOutcome: options.onOutcome,
      observer: observers.outbound,
      resilience: (service: string) => this.resilience.for(service),
      idleStreams: this.idleStreams,
    };
    const router = new OutboundRouter(outboundContext);
    const tunnels = new OutboundTunnels({
      ...outboundContext,
      router,
      connectTimeoutMs: LOCAL_UPSTREAM_DEFAULTS.connectTimeoutMs,
      tcpStatsFor: (service: string, cluster: string) =>
        this.metrics.statsFor('tcp', config.cluster, service, cluster),
      tcpObserver: observers.tcp,
    });
    const acceptFailed = (what: string, err: Error) =>
      this.logger.warn({ err }, `${what} cannot accept a connection (the caller is refused): ${err.message}`);
    this.outbound = new OutboundListener(
      config.listen.outbound,
      config.limits.callerStreams,
      {
        onFastRequest: (head, body, sink) => router.onFastRequest(head, body, sink),
        onRequest: (req, res) => router.onH1Request(req, res),
        onUpgrade: (req, socket, head) => tunnels.onUpgrade(req, socket, head),
        onConnect: (_req, socket) => tunnels.onConnect(socket),
        onStream: (stream, headers, flags, rawHeaders) =>
          router.onH2Stream(stream, headers, flags, rawHeaders),
        onAcceptError: acceptFailed,
        onSessionLost: (message) => this.logger.warn({ reason: message }, 'local HTTP/2 caller lost'),
      },
      this.metrics,
      outboundContext.noRouteStats,
      options.onOutcome,
    );
    const peerRouter = (this.peerRouter = new PeerRouter({
      cluster: config.cluster,
      table: () => this.table,
      upstreams: this.upstreams,
      refusalStatsFor: (caller: string, service: string) =>
        this.metrics.statsFor('peer', caller, service, config.cluster),
      onOutcome: options.onOutcome,
      observer: observers.peer,
      resilience: outboundContext.resilience,
      idleStreams: this.idleStreams,
      connectTimeoutMs: LOCAL_UPSTREAM_DEFAULTS.connectTimeoutMs,
    }));
    this.peerListener = new PeerListener({
      address: config.listen.peer,
      trustDomain: config.trustDomain,
      tls: options.tls,
      metrics: this.metrics,
      onStream: (stream, headers, flags, rawHeaders, caller) =>
        peerRouter.onStream(stream, headers, flags, rawHeaders, caller),
      onTunnel: (socket, caller) => peerRouter.onTunnel(socket, caller),
      onRefused: (message) => this.logger.warn({ reason: message }, 'peer connection refused'),
      onCallerLost: (caller, message) =>
        this.logger.warn({ caller, reason: message }, `peer connection from ${caller} lost`),
      onAcceptError: acceptFailed,
    });
    this.tcp = new TcpListeners(
      this.metrics,
      (socket, service) => tunnels.onTcpConnection(socket, service),
      acceptFailed,
    );
  }

  /** Binds the outbound, peer and tcp listeners; rejects with LISTEN_FAILED (e.g. EADDRINUSE). */
  async start(): Promise<void> {
    await this.observers.start();
    this.peers.start();
    this.upstreams.start();
    this.unsubscribe.push(this.options.view.subscribe(() => this.scheduleRefresh()));
    this.unsubscribe.push(this.options.catalog.subscribe(() => this.scheduleRefresh()));
    this.unsubscribe.push(
      this.prober.subscribe((change) => {
        // In-flight streams to a gateway that stopped answering fail now (UPSTREAM_RESET) and are
        // retried elsewhere, instead of waiting for their timeout. One that refuses new connections is
        // draining: what it still carries (a WebSocket, a long call) finishes there.
        if (!change.healthy && !change.refused) this.peers.disconnect(change.key, change.reason);
        this.scheduleRefresh();
      }),
    );
    const outliers = this.options.outliers;
    if (outliers) {
      this.unsubscribe.push(
        outliers.subscribe((event) => {
          // A gateway's ejection shows in its cluster's links; the others are named (group: the service).
          if (event.scope === 'gateway') this.scheduleRefresh();
          else this.requestRefresh([event.group]);
        }),
      );
    }
    this.refreshRoutes();
    this.prober.start();
    await this.outbound.start();
    await this.peerListener.start();
    await this.tcp.apply(this.config.tcp);
    this.logger.info(
      {
        outbound: formatHostPort({ host: this.config.listen.outbound.host, port: this.outbound.port }),
        peer: formatHostPort({ host: this.config.listen.peer.host, port: this.peerListener.port }),
        tcp: this.tcp.ports().map((p) => `${p.listen}→${p.service}`),
      },
      'data plane listening',
    );
  }

  /** Ports actually bound (differ from the config when it asks for port 0). */
  get ports(): { outbound: number; peer: number; tcp: readonly { service: string; port: number }[] } {
    return { outbound: this.outbound.port, peer: this.peerListener.port, tcp: this.tcp.ports() };
  }

  /**
   * Applies a reloaded (already validated) config: tcp listeners are rebuilt where they changed and
   * the route table is swapped. The caller keeps the running values of fields that need a restart
   * (gateway/config/reload-plan.ts).
   */
  async updateConfig(config: GatewayConfig): Promise<void> {
    // First, as it is the step that can fail (a port in use): a rejected reload changes nothing.
    await this.tcp.apply(config.tcp);
    this.config = config;
    this.outbound.setCallerStreams(config.limits.callerStreams);
    this.resilience.updateConfig(config);
    for (const [service, policy] of this.policies)
      policy.updatePolicy(servicePolicy(config, service).failover);
    this.refreshRoutes();
  }

  /**
   * New TLS material for new handshakes (both directions); established connections continue, unless the
   * trust anchors changed: then a connection between gateways whose peer's certificate no longer chains
   * to them is closed at once (an anchor removed from the bundle stops being trusted), and the other
   * HTTP/2 connections are retired gracefully, so every peer is verified again on a new one.
   */
  updateTls(material: TlsCredentials): void {
    const trustChanged = !material.ca.equals(this.trustAnchors);
    this.trustAnchors = material.ca;
    this.peers.updateTls(material);
    this.peerListener.updateTls(material);
    if (!trustChanged) return;
    const anchors = parseCertificateBundle(material.ca.toString('latin1'));
    const closed = this.peers.trustChanged(anchors) + this.peerListener.trustChanged(anchors);
    this.logger.info(
      { closed },
      closed === 0
        ? 'trust anchors changed: connections to and from peer gateways are re-established under them'
        : `trust anchors changed: ${closed} connection(s) to or from peer gateways whose certificates no longer chain to them were closed; the others are re-established under them`,
    );
  }

  /**
   * A rebuild for a change the data plane cannot see in its inputs: the health of the local endpoints of
   * `services`, or, without it, anything (every route is rebuilt). See scheduleRefresh.
   */
  requestRefresh(services?: Iterable<string>): void {
    if (services === undefined) this.everyRouteChanged = true;
    else for (const service of services) this.namedChanges.add(service);
    this.scheduleRefresh();
  }

  /**
   * A rebuild for a change (the catalog, the fabric view, endpoint or peer health): changes that come
   * together get one, after the current turn, and rebuilds are paced so that they take at most half of
   * the event loop's time. A rebuild redoes only the routes of services whose inputs changed, but one
   * that must redo thousands takes tens of milliseconds, and one per change, made at once, left requests
   * waiting behind back-to-back rebuilds under churn.
   */
  private scheduleRefresh(): void {
    if (this.refreshPending || this.closing) return;
    this.refreshPending = true;
    const { endedAt, tookMs } = this.lastRefresh;
    const wait = endedAt + tookMs - monotonicClock();
    // Cheap rebuilds (a small fabric) at the end of this turn, before the loop reads another request.
    if (tookMs < PACED_REFRESH_MS || wait <= 0) {
      setImmediate(() => {
        if (this.refreshPending) this.rebuild();
      });
      return;
    }
    this.refreshTimer = setTimeout(() => this.rebuild(), wait);
    this.refreshTimer.unref();
  }

  /** How many times the route table was rebuilt: its routes, decisions and peers change only then. */
  get routesBuilt(): number {
    return this.rebuilds;
  }

  /** Rebuilds every route and swaps the route table now. */
  refreshRoutes(): void {
    this.everyRouteChanged = true;
    this.rebuild();
  }

  /** Rebuilds the routes that changed (all of them after refreshRoutes or updateConfig) and swaps the table. */
  private rebuild(): void {
    // Ejections whose time is up end now, named like any other (the return events come from the sweep):
    // a route carried over would otherwise keep one out until the gateway's next sweep.
    this.options.outliers?.sweep();
    clearTimeout(this.refreshTimer);
    this.refreshPending = false;
    const startedAt = monotonicClock();
    this.rtts.refresh();
    const fabric = this.options.view.snapshot();
    const local = this.options.catalog.services();
    const previous = this.routeInputs;
    const localChanged = !previous || previous.local !== local;
    const membersChanged = localChanged || previous.fabric !== fabric;
    const gateways = new Set<string>();
    const probed: { key: string; cluster: string }[] = [];
    for (const cluster of fabric.clusters.values()) {
      for (const gateway of cluster.gateways) {
        const key = peerKey(cluster.name, gateway.id, gateway.peerAddress);
        gateways.add(key);
        if (cluster.name === this.config.cluster) continue;
        this.peers.gateway(cluster.name, gateway.id, gateway.peerAddress);
        probed.push({ key, cluster: cluster.name });
      }
    }
    this.peers.retain(gateways);
    this.prober.setPeers(probed);
    // What the view and the catalog changed (the links are compared once the probes and ejections have
    // followed the fabric): the outlier groups that may differ, and most of what the routes need.
    const viewChanges =
      previous && !this.everyRouteChanged && membersChanged
        ? changedServices(previous, { fabric, local }, this.config.cluster)
        : new Set<string>();
    if (membersChanged) {
      if (!previous || this.everyRouteChanged) this.retainOutlierMembers(fabric, local, probed);
      else this.updateOutlierMembers(fabric, local, probed, viewChanges);
    }
    // Read after the probes and ejections have followed the fabric: what the routes built now will read.
    const inputs: RouteInputs = {
      fabric,
      local,
      links: this.linksOf(fabric),
      rttTiers: this.rttTiersOf(fabric),
    };
    const input = this.tableInput(fabric, local);
    if (!previous || this.everyRouteChanged) {
      this.table = buildRouteTable(++this.revision, input);
    } else {
      const changed = viewChanges;
      addServicesOfChangedLinks(previous, inputs, this.config.cluster, changed);
      for (const service of this.namedChanges) changed.add(service);
      const reRanked = rttTierChanges(previous, inputs);
      if (reRanked.length > 0)
        servicesReRankedByRtt(this.table.routes.values(), reRanked, previous, inputs, changed);
      for (const route of this.table.routes.values()) {
        const at = route.decision?.reevaluateAt;
        if (at !== undefined && at <= startedAt) changed.add(route.service);
      }
      this.table = rebuildRouteTable(++this.revision, input, this.table, changed);
    }
    this.routeInputs = inputs;
    this.everyRouteChanged = false;
    this.namedChanges.clear();
    this.rebuilds++;
    this.retireDeparted();
    this.scheduleReevaluation();
    if (localChanged && (!previous || this.leftEndpointWithPool(previous.local, local))) {
      const endpoints = new Set<string>();
      for (const service of local.values()) {
        for (const e of service.endpoints) endpoints.add(formatHostPort(e));
      }
      this.upstreams.retain(endpoints);
    }
    const endedAt = monotonicClock();
    this.lastRefresh = { endedAt, tookMs: endedAt - startedAt };
  }

  /**
   * Stops accepting, lets in-flight requests and tunnels finish until `deadlineMs` has passed, then
   * destroys what is left. Idempotent.
   */
  drain(deadlineMs: number): Promise<void> {
    this.draining ??= (async () => {
      this.outbound.drain();
      this.peerListener.drain();
      this.peerRouter.drain();
      this.tcp.drain();
      const deadline = Date.now() + deadlineMs;
      while (this.openConnections() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS).unref());
        this.outbound.closeIdle();
        this.peerRouter.closeIdle();
      }
      const left = this.openConnections();
      if (left > 0)
        this.logger.warn({ connections: left }, 'drain deadline passed; closing remaining connections');
      this.destroyAll();
    })();
    return this.draining;
  }

  /** Closes everything now; safe after a partial start, idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
      this.prober.close();
      clearTimeout(this.reevaluateTimer);
      clearTimeout(this.refreshTimer);
      clearTimeout(this.retireTimer);
      this.destroyAll();
      await this.observers.close();
    })();
    return this.closing;
  }

  state(): DataPlaneState {
    const { revision, routes, peers } = this.routeState();
    const healthy = this.options.endpointHealthy;
    const endpoints: EndpointState[] = [];
    for (const service of this.options.catalog.services().values()) {
      for (const e of service.endpoints) {
        endpoints.push({
          service: service.key,
          host: e.host,
          port: e.port,
          weight: e.weight,
          healthy: healthy ? healthy(service.key, e) : true,
        });
      }
    }
    return {
      revision,
      listeners: {
        outbound: formatHostPort({ host: this.config.listen.outbound.host, port: this.outbound.port }),
        peer: formatHostPort({ host: this.config.listen.peer.host, port: this.peerListener.port }),
        tcp: this.tcp.ports().map(({ listen, service }) => ({ listen, service })),
      },
      routes,
      peers,
      endpoints,
      upstreamPools: this.upstreams.stats(),
    };
  }

  /** The routes and peers of state(). */
  private routeState(): Pick<DataPlaneState, 'revision' | 'routes' | 'peers'> {
    const table = this.table;
    const routes: RouteState[] = [...table.routes.values()].map((route) => ({
      service: route.service,
      protocol: route.protocol,
      local: route.local ? route.local.choices.map((c) => c.via) : [],
      failover: route.remotes.map((remote) => ({
        cluster: remote.cluster,
        stale: remote.stale,
        gateways: remote.choices.map((c) => ({ gateway: c.via, available: c.gateway.available })),
      })),
      deniedBy: route.deniedBy,
      unhealthyIn: route.unhealthyIn,
      ...(route.decision ? { mode: route.decision.mode, shares: route.decision.shares } : {}),
    }));
    return { revision: table.revision, routes, peers: this.peerStates() };
  }

  /** The peer gateways and the connections to them (a part of state(), without building the rest). */
  peerStates(): PeerState[] {
    return this.peers.state();
  }

  /** Gauges for FailoverMetrics: peer probes, failover decisions, circuit breakers, retry budgets. */
  failoverSources(): Required<Pick<FailoverMetricSources, 'peers' | 'decisions' | 'breakers' | 'budgets'>> {
    return {
      peers: () => this.prober.state(),
      decisions: () =>
        [...this.table.routes.values()].flatMap((route) =>
          route.decision ? [{ service: route.service, decision: route.decision }] : [],
        ),
      breakers: () => this.resilience.breakers(),
      budgets: () => this.resilience.budgets(),
    };
  }

  /** One rebuild when the earliest hold-down or failback ramp step is due (the policies hold no timers). */
  private scheduleReevaluation(): void {
    let at: number | undefined;
    for (const route of this.table.routes.values()) {
      const next = route.decision?.reevaluateAt;
      if (next !== undefined && (at === undefined || next < at)) at = next;
    }
    clearTimeout(this.reevaluateTimer);
    this.reevaluateTimer = undefined;
    if (at === undefined || this.closing) return;
    this.reevaluateTimer = setTimeout(() => this.rebuild(), Math.max(0, at - monotonicClock()) + 1);
    this.reevaluateTimer.unref();
  }

  private policyFor(service: string): FailoverPolicy {
    let policy = this.policies.get(service);
    if (!policy) {
      policy = new FailoverPolicy({
        service,
        cluster: this.config.cluster,
        locality: this.config.locality,
        policy: servicePolicy(this.config, service).failover,
        probeError: (cluster) => this.prober.clusterProbeError(cluster),
        onEvent: (event) => this.onFailoverEvent(event),
      });
      this.policies.set(service, policy);
    }
    return policy;
  }

  private onFailoverEvent(event: FailoverEvent): void {
    logFailoverEvent(this.logger, event);
    this.options.failoverMetrics?.failoverEvent(event);
    this.options.onFailover?.(event);
  }

  private openConnections(): number {
    return this.outbound.openConnections + this.peerListener.openConnections + this.tcp.openConnections;
  }

  private destroyAll(): void {
    this.idleStreams.close();
    this.outbound.destroy();
    this.peerListener.destroy();
    this.tcp.destroy();
    this.peers.destroy();
    this.upstreams.destroy();
  }

  /**
   * A service no route table has had, or a cluster gone from the fabric, for a while takes its state
   * with it (short-lived names would pile up): request metrics, failover policy, retry budget, circuit
   * breakers, metric series. Runs after each route rebuild and when the next departure is due.
   */
  private retireDeparted(): void {
    clearTimeout(this.retireTimer);
    this.retireTimer = undefined;
    const services = new Set(this.departedServices.update(this.table.routes));
    const clusters = new Set(this.departedClusters.update(this.options.view.snapshot().clusters));
    clusters.delete(this.config.cluster);
    if (services.size > 0 || clusters.size > 0) {
      for (const service of services) this.policies.delete(service);
      for (const policy of this.policies.values()) policy.forgetClusters(clusters);
      this.metrics.retire(services, clusters);
      this.resilience.forget(services, clusters);
      this.options.outliers?.forgetServices(services);
      this.options.failoverMetrics?.forget(services, clusters).catch((err: unknown) => {
        this.logger.warn({ err }, 'could not remove the metric series of departed services and clusters');
      });
    }
    const waits = [this.departedServices.msUntilNextDue(), this.departedClusters.msUntilNextDue()];
    const wait = Math.min(...waits.filter((ms) => ms !== undefined));
    if (wait === Infinity || this.closing) return;
    this.retireTimer = setTimeout(() => this.retireDeparted(), wait + 1);
    this.retireTimer.unref();
  }

  /**
   * Whether a local service changed away from an endpoint this gateway holds connections to: only then
   * may a pool have lost its last service (walking every endpoint of thousands of services is not done
   * for each registration).
   */
  private leftEndpointWithPool(
    before: ReadonlyMap<string, LocalService>,
    after: ReadonlyMap<string, LocalService>,
  ): boolean {
    for (const [key, service] of before) {
      const now = after.get(key);
      if (now === service) continue;
      const kept = new Set(now?.endpoints.map(formatHostPort));
      for (const e of service.endpoints) {
        const endpoint = formatHostPort(e);
        if (!kept.has(endpoint) && this.upstreams.has(endpoint)) return true;
      }
    }
    return false;
  }

  /** Passive outlier detection forgets endpoints, gateways and clusters that left. */
  private retainOutlierMembers(
    fabric: FabricSnapshot,
    local: ReadonlyMap<string, LocalService>,
    remoteGateways: readonly { key: string; cluster: string }[],
  ): void {
    const outliers = this.options.outliers;
    if (!outliers) return;
    const endpoints = new Map<string, string[]>();
    for (const service of local.values()) endpoints.set(service.key, service.endpoints.map(formatHostPort));
    const clusters = new Map<string, string[]>();
    for (const cluster of fabric.clusters.values()) {
      if (cluster.name === this.config.cluster) continue;
      for (const service of cluster.services.keys()) appendTo(clusters, service, cluster.name);
    }
    outliers.retain({ endpoints, gateways: gatewaysByCluster(remoteGateways), clusters });
  }

  /**
   * As retainOutlierMembers, for the endpoints and exporting clusters of `services` only (a change
   * touched them; the groups of thousands of others stay as they are); every cluster's gateways.
   */
  private updateOutlierMembers(
    fabric: FabricSnapshot,
    local: ReadonlyMap<string, LocalService>,
    remoteGateways: readonly { key: string; cluster: string }[],
    services: ReadonlySet<string>,
  ): void {
    const outliers = this.options.outliers;
    if (!outliers) return;
    outliers.gateways.retain(gatewaysByCluster(remoteGateways));
    if (services.size === 0) return;
    // A service gone from the catalog, or that no other cluster exports, keeps an empty group: late
    // outcomes of its attempts are ignored. Its declaration goes when the service retires.
    const endpoints = new Map<string, string[]>();
    const clusters = new Map<string, string[]>();
    for (const service of services) {
      endpoints.set(service, local.get(service)?.endpoints.map(formatHostPort) ?? []);
      const exporters: string[] = [];
      for (const cluster of fabric.clusters.values()) {
        if (cluster.name !== this.config.cluster && cluster.services.has(service))
          exporters.push(cluster.name);
      }
      clusters.set(service, exporters);
    }
    outliers.update({ endpoints, clusters });
  }

  /**
   * Per remote cluster, what its routes read besides its view and RTT (RouteInputs.links): each gateway's
   * probe answer and ejection, the whole cluster's ejection. A change here rebuilds the cluster's services.
   */
  private linksOf(fabric: FabricSnapshot): Map<string, string> {
    const outliers = this.options.outliers;
    const links = new Map<string, string>();
    for (const cluster of fabric.clusters.values()) {
      if (cluster.name === this.config.cluster) continue;
      let link = outliers?.clusterUnreachable(cluster.name) ? 'unreachable' : '';
      for (const g of cluster.gateways) {
        const key = peerKey(cluster.name, g.id, g.peerAddress);
        link += ` ${this.prober.isHealthy(key) ? '+' : '-'}${outliers?.gateways.isEjected(cluster.name, key) ? 'x' : ''}`;
      }
      links.set(cluster.name, link);
    }
    return links;
  }

  /** Per remote cluster, its RTT tier from the sample route decisions read (RouteInputs.rttTiers). */
  private rttTiersOf(fabric: FabricSnapshot): Map<string, number> {
    const tiers = new Map<string, number>();
    for (const cluster of fabric.clusters.values()) {
      if (cluster.name !== this.config.cluster)
        tiers.set(cluster.name, rttTier(this.rtts.rttOf(cluster.name)));
    }
    return tiers;
  }

  private tableInput(
    fabric: FabricSnapshot,
    local: ReadonlyMap<string, LocalService>,
  ): RouteTableInput<PeerGateway> {
    const config = this.config;
    const metrics = this.metrics;
    const outliers = this.options.outliers;
    return {
      cluster: config.cluster,
      locality: config.locality,
      scope: { zone: config.zone, defaultNamespace: config.defaultNamespace },
      local,
      fabric,
      gatewayOf: (cluster, gateway) => {
        const peer = this.peers.gateway(cluster, gateway.id, gateway.peerAddress);
        return { key: peer.key, gateway: peer };
      },
      statsFor: (service, destination) => metrics.statsFor('outbound', config.cluster, service, destination),
      peerStatsFor: (service, caller) => metrics.statsFor('peer', caller, service, config.cluster),
      ...(this.options.endpointHealthy ? { endpointHealthy: this.options.endpointHealthy } : {}),
      gatewayUsable: (key) => this.prober.isUsable(key),
      // Read per table: every gateway ejection and return rebuilds it (see start()).
      ...(outliers ? { gatewayEjected: (cluster, key) => outliers.gateways.isEjected(cluster, key) } : {}),
      failover: {
        policyFor: (service) => this.policyFor(service),
        clusterRttMs: (cluster) => this.rtts.rttOf(cluster),
        gatewayReachable: (key) => this.prober.isHealthy(key),
        clusterEjected: (service, cluster) =>
          (outliers?.clusters.isEjected(service, cluster) ?? false) ||
          (outliers?.clusterUnreachable(cluster) ?? false),
        endpointEjected: (service, endpoint) => outliers?.endpoints.isEjected(service, endpoint) ?? false,
      },
    };
  }
}

function gatewaysByCluster(gateways: readonly { key: string; cluster: string }[]): Map<string, string[]> {
  const byCluster = new Map<string, string[]>();
  for (const { key, cluster } of gateways) appendTo(byCluster, cluster, key);
  return byCluster;
}

function appendTo(lists: Map<string, string[]>, key: string, value: string): void {
  const list = lists.get(key);
  if (list) list.push(value);
  else lists.set(key, [value]);
}
