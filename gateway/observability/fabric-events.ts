// The gateway's recent fabric events (failover, failback, cluster and discovery state changes), kept in
// a small ring for the dashboard, the admin API and the stats record, and logged as they happen.
// Sources: every fabric view swap (cluster transitions) and a periodic reading of the data plane's route
// state (failover/failback; peer reachability changes do not swap the view, so they are polled), skipped
// while the routes have not been rebuilt. A view swap with a cluster transition reads the routes at once
// too; one without (a service's export changed: many a second in a large, busy fabric) leaves them to the
// periodic reading, as reading every route costs milliseconds at thousands of services.
// Lifecycle: construct (no side effects) → start() → close(); both idempotent.
import type { Logger } from 'pino';
import type { FabricSnapshot, FabricView } from '../../discovery/index.js';
import { clusterTransitions } from './cluster-transitions.js';
import type { FabricEvent } from './fabric-event.js';
import { failoverEvents, readPeers, readRoutes, type RouteReading } from './failover-detector.js';

export interface FabricEventsOptions {
  readonly view: FabricView;
  /**
   * The data plane's routes and peers (DataPlane.routeState(), or the whole DataPlane.state()); without
   * it only cluster events are seen.
   */
  readonly dataPlaneState?: () => unknown;
  /**
   * Changes whenever the routes may have (DataPlane.routesBuilt): while it stays the same, a poll reads
   * nothing. The whole state of a fabric of thousands of services takes tens of milliseconds to build.
   */
  readonly routesVersion?: () => number;
  readonly localCluster: string;
  /** `<cluster>/<gateway id>` of this gateway. */
  readonly observer: string;
  /** How often routes are read for failover/failback. Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /**
   * Derive failover/failback from route state (default true). Turn it off once the failover policy
   * reports its own decisions through `report()`, so that each move is told once.
   */
  readonly deriveFailover?: boolean;
  /** Events kept. Default 50. */
  readonly capacity?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export class FabricEvents {
  private readonly options: FabricEventsOptions;
  private readonly now: () => number;
  private readonly capacity: number;
  private readonly ring: FabricEvent[] = [];
  private snapshot: FabricSnapshot | undefined;
  private routes: Map<string, RouteReading> | undefined;
  private routesVersion: number | undefined;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: FabricEventsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.capacity = options.capacity ?? 50;
  }

  start(): void {
    if (this.unsubscribe || this.closed) return;
    this.snapshot = this.options.view.snapshot();
    this.routes = this.readRoutes();
    this.unsubscribe = this.options.view.subscribe((snapshot) => this.onSnapshot(snapshot));
    if (this.options.dataPlaneState && this.options.deriveFailover !== false) {
      this.timer = setInterval(() => this.poll(), this.options.pollIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Records an event another component reports (e.g. the failover policy's onEvent through
   * `fabricEventOfFailover`); `at` defaults to now. Safe to call before start() and after close().
   */
  report(event: Omit<FabricEvent, 'at' | 'observer'> & { readonly at?: number }): void {
    this.add([{ ...event, at: event.at ?? this.now(), observer: this.options.observer }]);
  }

  /** The latest events, newest first. */
  recent(limit = this.capacity): FabricEvent[] {
    return this.ring.slice(-limit).reverse();
  }

  /** Reads the routes now and records any failover/failback since the last reading. */
  poll(): void {
    if (!this.options.dataPlaneState || !this.routes || this.options.deriveFailover === false) return;
    const version = this.options.routesVersion?.();
    if (version !== undefined && version === this.routesVersion) return;
    this.routesVersion = version;
    let state: unknown;
    try {
      state = this.options.dataPlaneState();
    } catch {
      return;
    }
    const routes = readRoutes(state);
    const events = failoverEvents(this.routes, routes, {
      localCluster: this.options.localCluster,
      at: this.now(),
      observer: this.options.observer,
      peers: readPeers(state),
    });
    this.routes = routes;
    this.add(events);
  }

  private readRoutes(): Map<string, RouteReading> | undefined {
    if (!this.options.dataPlaneState) return undefined;
    this.routesVersion = this.options.routesVersion?.();
    try {
      return readRoutes(this.options.dataPlaneState());
    } catch {
      return new Map();
    }
  }

  private onSnapshot(snapshot: FabricSnapshot): void {
    const previous = this.snapshot ?? snapshot;
    this.snapshot = snapshot;
    const transitions = clusterTransitions(previous, snapshot, this.now(), this.options.observer);
    this.add(transitions);
    if (transitions.length > 0) this.poll();
  }

  private add(events: readonly FabricEvent[]): void {
    for (const event of events) {
      this.ring.push(event);
      this.options.logger?.info({ event }, `fabric event: ${event.kind}`);
    }
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
  }
}
