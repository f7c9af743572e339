// Passive health from real traffic, fed by the data plane's per-attempt outcome reports. Three views,
// each an OutlierDetector, so the hot path builds no keys:
// - endpoints: group = service, member = local endpoint host:port (both local-origin failures and 5xx);
// - gateways:  group = cluster, member = peer gateway key (transport failures only: a gateway that
//              answered, even with a 5xx, is reachable);
// - clusters:  group = service, member = remote cluster (5xx answers for that service from that cluster,
//              e.g. its gateway's 503 when it has no healthy endpoint) — this is what fails a service
//              over to another cluster on errors.
import { formatHostPort, type HostPort } from '../config/index.js';
import type { AttemptOutcome } from '../routing/outcome.js';
import {
  OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierEvent,
  type OutlierGroupState,
} from './outlier-detector.js';

export type OutlierScope = 'endpoint' | 'gateway' | 'cluster';

export interface ScopedOutlierEvent extends OutlierEvent {
  readonly scope: OutlierScope;
}

export interface OutlierTrackerState {
  readonly endpoints: readonly OutlierGroupState[];
  readonly gateways: readonly OutlierGroupState[];
  readonly clusters: readonly OutlierGroupState[];
}

/** Who the three views should know: service → endpoint host:port, cluster → gateway key, service → cluster. */
export interface OutlierMembers {
  readonly endpoints: ReadonlyMap<string, Iterable<string>>;
  readonly gateways: ReadonlyMap<string, Iterable<string>>;
  readonly clusters: ReadonlyMap<string, Iterable<string>>;
}

export class OutlierTracker {
  readonly endpoints: OutlierDetector;
  readonly gateways: OutlierDetector;
  readonly clusters: OutlierDetector;

  constructor(options: OutlierDetectorOptions) {
    this.endpoints = new OutlierDetector(options);
    this.gateways = new OutlierDetector(options);
    this.clusters = new OutlierDetector(options);
  }

  /** An OutcomeListener: pass as DataPlaneOptions.onOutcome (or call from it). Cheap, never throws. */
  readonly record = (outcome: AttemptOutcome): void => {
    if (outcome.kind === 'cancelled') return;
    if (outcome.gateway !== undefined) {
      if (outcome.kind === 'local-origin') {
        this.gateways.report(outcome.cluster, outcome.gateway, 'local-origin');
        return;
      }
      this.gateways.report(outcome.cluster, outcome.gateway, 'success');
      this.clusters.report(outcome.service, outcome.cluster, outcome.kind);
      return;
    }
    if (outcome.endpoint !== undefined)
      this.endpoints.report(outcome.service, outcome.endpoint, outcome.kind);
  };

  /** Ejections and returns of all three views, synchronously. */
  subscribe(listener: (event: ScopedOutlierEvent) => void): () => void {
    const unsubscribe = [
      this.endpoints.subscribe((e) => listener({ ...e, scope: 'endpoint' })),
      this.gateways.subscribe((e) => listener({ ...e, scope: 'gateway' })),
      this.clusters.subscribe((e) => listener({ ...e, scope: 'cluster' })),
    ];
    return () => unsubscribe.forEach((u) => u());
  }

  /**
   * Whether a local endpoint of `service` should get traffic (not ejected, or its service in panic). Its
   * address is formatted only while some member may be ejected: the gateway asks for every local endpoint
   * at each publish of its exports.
   */
  endpointAvailable(service: string, endpoint: HostPort): boolean {
    return !this.endpoints.ejecting || this.endpoints.available(service, formatHostPort(endpoint));
  }

  /** Whether every known gateway of `cluster` is ejected (no panic here: failover decides). */
  clusterUnreachable(cluster: string): boolean {
    return this.gateways.panic(cluster);
  }

  /** Forgets whatever left the catalog or the fabric (call on every route-table rebuild). */
  retain(members: OutlierMembers): void {
    this.endpoints.retain(members.endpoints);
    this.gateways.retain(members.gateways);
    this.clusters.retain(members.clusters);
  }

  /**
   * Declares the members of the groups listed (OutlierDetector.update) and leaves every other group as
   * it is.
   */
  update(members: Partial<OutlierMembers>): void {
    if (members.endpoints) this.endpoints.update(members.endpoints);
    if (members.gateways) this.gateways.update(members.gateways);
    if (members.clusters) this.clusters.update(members.clusters);
  }

  /** Drops the endpoint and cluster groups of services gone for good, declarations included. */
  forgetServices(services: Iterable<string>): void {
    const names = [...services];
    this.endpoints.forget(names);
    this.clusters.forget(names);
  }

  sweep(): void {
    this.endpoints.sweep();
    this.gateways.sweep();
    this.clusters.sweep();
  }

  nextExpiryAt(): number | undefined {
    const times = [this.endpoints, this.gateways, this.clusters]
      .map((d) => d.nextExpiryAt())
      .filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  state(): OutlierTrackerState {
    return {
      endpoints: this.endpoints.state(),
      gateways: this.gateways.state(),
      clusters: this.clusters.state(),
    };
  }
}
