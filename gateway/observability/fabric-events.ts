// The gateway's recent fabric events (failover, failback, routing mode, cluster and discovery state
// changes), kept in a small ring for the dashboard, the admin API and the stats record, and logged as they
// happen. Cluster and discovery events come from every fabric view swap; failover, failback and routing
// mode changes are reported by the failover policies as they decide them (`report()`, through
// `fabricEventOfFailover`), once each, with the policy's own reason, however close together they come.
// The ring keeps the fabric's own events in view of the failovers they cause (`latestEvents`).
// Lifecycle: construct (no side effects) → start() → close(); both idempotent.
import type { Logger } from 'pino';
import type { FabricSnapshot, FabricView } from '../../discovery/index.js';
import { clusterTransitions } from './cluster-transitions.js';
import { latestEvents, type FabricEvent } from './fabric-event.js';

export interface FabricEventsOptions {
  readonly view: FabricView;
  /** `<cluster>/<gateway id>` of this gateway. */
  readonly observer: string;
  /** Events kept. Default 50. */
  readonly capacity?: number;
  readonly now?: () => number;
  /** Cluster and discovery events are logged here (info). */
  readonly logger?: Logger;
}

export class FabricEvents {
  private readonly options: FabricEventsOptions;
  private readonly now: () => number;
  private readonly capacity: number;
  /** Oldest first. */
  private ring: FabricEvent[] = [];
  private snapshot: FabricSnapshot | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(options: FabricEventsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.capacity = options.capacity ?? 50;
  }

  start(): void {
    if (this.unsubscribe || this.closed) return;
    this.snapshot = this.options.view.snapshot();
    this.unsubscribe = this.options.view.subscribe((snapshot) => this.onSnapshot(snapshot));
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /**
   * Records an event another component reports (the failover policies' decisions, through
   * `fabricEventOfFailover`); `at` defaults to now. The reporter logs it (the data plane logs every
   * failover decision at warn or info), so it is not logged again here. Safe to call before start() and
   * after close().
   */
  report(event: Omit<FabricEvent, 'at' | 'observer'> & { readonly at?: number }): void {
    this.keep({ ...event, at: event.at ?? this.now(), observer: this.options.observer });
  }

  /** The latest events, newest first (see `latestEvents`). */
  recent(limit = this.capacity): FabricEvent[] {
    return latestEvents(this.ring.slice().reverse(), limit);
  }

  private onSnapshot(snapshot: FabricSnapshot): void {
    const previous = this.snapshot ?? snapshot;
    this.snapshot = snapshot;
    for (const event of clusterTransitions(previous, snapshot, this.now(), this.options.observer)) {
      this.options.logger?.info({ event }, `fabric event: ${event.kind}`);
      this.keep(event);
    }
  }

  private keep(event: FabricEvent): void {
    this.ring.push(event);
    if (this.ring.length > this.capacity) this.ring = this.recent().reverse();
  }
}
