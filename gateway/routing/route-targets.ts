// The targets a route picks from: a cluster's local endpoints (weighted) and a remote cluster's peer
// gateways (round robin over the replicas that serve the service, an outlier-ejected one only when no
// other can take the request), and the choices an attempt goes to. Built with the route table, never
// per request; `pick` is pure apart from round-robin counters.
import { formatHostPort } from '../config/index.js';
import type { LocalEndpoint, LocalService } from '../catalog/index.js';
import { WeightedPicker } from './weighted-picker.js';

/** What the table needs of a peer gateway's transport: whether it can take a request now. */
export interface RemoteGateway {
  readonly available: boolean;
}

/** Per-target request statistics, attached by the data plane (metrics children, cached). */
export interface TargetStats {
  /** One finished request; `grpcStatus` is the gRPC status a gRPC caller got (none when it went away first). */
  record(status: number, seconds: number, grpcStatus?: number): void;
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
      via: formatHostPort(endpoint),
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

  get available(): boolean {
    return this.choices.length > 0;
  }

  /**
   * For a retry: an endpoint not tried yet, drawn at random by weight. Not the balancer's pick: a retry
   * is looked for before it is decided, and moving the round robin for a retry never made would send
   * every first try after a failure to the endpoint that failed.
   */
  pickExcept(tried: ReadonlySet<string>): LocalChoice | undefined {
    let total = 0;
    for (const choice of this.choices) if (!tried.has(choice.via)) total += choice.endpoint.weight;
    let point = Math.random() * total;
    for (const choice of this.choices) {
      if (tried.has(choice.via)) continue;
      point -= choice.endpoint.weight;
      if (point < 0) return choice;
    }
    return undefined;
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
  /** The cluster's gateways that serve the service, outlier-ejected ones included. */
  readonly choices: readonly RemoteChoice<G>[];
  /** Gateways not ejected by outlier detection: the only ones picked while one of them can be. */
  private readonly preferred: readonly RemoteChoice<G>[];
  /** Ejected gateways, picked only when no preferred one can take a request (panic). */
  private readonly ejected: readonly RemoteChoice<G>[];
  private next = 0;
  private nextEjected = 0;
  private readonly usable: (key: string) => boolean;

  constructor(
    service: string,
    cluster: string,
    stale: boolean,
    gateways: readonly { key: string; gateway: G; ejected?: boolean }[],
    stats: TargetStats,
    usable: (key: string) => boolean = () => true,
  ) {
    this.cluster = cluster;
    this.stale = stale;
    this.usable = usable;
    const preferred: RemoteChoice<G>[] = [];
    const ejected: RemoteChoice<G>[] = [];
    this.choices = gateways.map(({ key, gateway, ejected: out }) => {
      const choice = { service, cluster, via: key, remote: true, stats, gateway };
      (out === true ? ejected : preferred).push(choice);
      return choice;
    });
    this.preferred = ejected.length === 0 ? this.choices : preferred;
    this.ejected = ejected;
  }

  /**
   * Round-robin over gateways that can take a request, outlier-ejected ones only when no other can;
   * undefined when none can.
   */
  pick(): RemoteChoice<G> | undefined {
    const preferred = this.preferred;
    const count = preferred.length;
    for (let tried = 0; tried < count; tried++) {
      const choice = preferred[this.next] as RemoteChoice<G>;
      this.next = (this.next + 1) % count;
      if (choice.gateway.available && this.usable(choice.via)) return choice;
    }
    const ejected = this.ejected;
    for (let tried = 0; tried < ejected.length; tried++) {
      const choice = ejected[this.nextEjected] as RemoteChoice<G>;
      this.nextEjected = (this.nextEjected + 1) % ejected.length;
      if (choice.gateway.available && this.usable(choice.via)) return choice;
    }
    return undefined;
  }

  get available(): boolean {
    for (const choice of this.choices) if (choice.gateway.available && this.usable(choice.via)) return true;
    return false;
  }

  /**
   * For a retry: an available gateway not tried yet; an outlier-ejected one only when no other gateway
   * could take a request at all (tried or not), as for `pick`.
   */
  pickExcept(tried: ReadonlySet<string>): RemoteChoice<G> | undefined {
    let panic = true;
    for (const choice of this.preferred) {
      if (!choice.gateway.available || !this.usable(choice.via)) continue;
      if (!tried.has(choice.via)) return choice;
      panic = false;
    }
    if (!panic) return undefined;
    for (const choice of this.ejected) {
      if (!tried.has(choice.via) && choice.gateway.available && this.usable(choice.via)) return choice;
    }
    return undefined;
  }
}

export type RouteTarget<G extends RemoteGateway> = LocalTarget | RemoteTarget<G>;
