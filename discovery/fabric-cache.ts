// The published side of the registry: builds immutable FabricSnapshots from the model, the stale-policy
// evaluation and this gateway's own registration, and hands them to subscribers. Cluster views are
// shared between snapshots while nothing about that cluster changed, so a change in one cluster costs
// a rebuild of that cluster only. `snapshot()` is a field read.
import type { Logger } from 'pino';
import type { FabricModel } from './fabric-model.js';
import type { ClusterView, FabricSnapshot, FabricView, GatewayView, ServiceExport } from './fabric.js';
import type { ClusterRecord, GatewayRecordData } from './records.js';
import type { Evaluation } from './stale-policy.js';

/** This gateway as it knows itself: always live in its own view, whatever Redis says. */
export interface OwnGateway {
  readonly gk: string;
  readonly cluster: ClusterRecord;
  readonly record: GatewayRecordData;
  readonly services: ReadonlyMap<string, ServiceExport>;
  /** Server-clock lease end from the last heartbeat; 0 before the first. */
  readonly leaseExpiresAt: number;
  /** Bumped when the record or services change. */
  readonly version: number;
}

export interface BuildInputs {
  readonly model: FabricModel;
  readonly evaluation: Evaluation;
  readonly own: OwnGateway;
  readonly source: FabricSnapshot['source'];
  readonly connected: boolean;
  readonly syncedAt: number | null;
}

const EMPTY: FabricSnapshot = Object.freeze({
  revision: 0,
  source: 'empty',
  connected: false,
  syncedAt: null,
  clusters: new Map<string, ClusterView>(),
});

export class FabricCache implements FabricView {
  private current: FabricSnapshot = EMPTY;
  private readonly listeners = new Set<(snapshot: FabricSnapshot) => void>();
  private readonly views = new Map<string, { signature: string; view: ClusterView }>();
  private notifying = false;
  private again = false;

  constructor(
    private readonly inputs: () => BuildInputs,
    private readonly logger: Logger,
  ) {}

  snapshot(): FabricSnapshot {
    return this.current;
  }

  subscribe(listener: (snapshot: FabricSnapshot) => void): () => void {
    const entry = (snapshot: FabricSnapshot) => listener(snapshot);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Rebuilds from the current inputs and publishes when anything visible changed. Never re-entrant. */
  refresh(): void {
    if (this.notifying) {
      this.again = true;
      return;
    }
    let next = this.build(this.inputs());
    while (next) {
      this.current = next;
      this.notify(next);
      next = this.again ? ((this.again = false), this.build(this.inputs())) : undefined;
    }
  }

  private notify(snapshot: FabricSnapshot): void {
    this.notifying = true;
    try {
      for (const listener of [...this.listeners]) {
        try {
          listener(snapshot);
        } catch (err) {
          this.logger.error({ err }, 'discovery: a fabric subscriber threw; ignored');
        }
      }
    } finally {
      this.notifying = false;
    }
  }

  private build(inputs: BuildInputs): FabricSnapshot | undefined {
    const { evaluation, own } = inputs;
    const clusters = new Map<string, ClusterView>();
    const names = new Set(evaluation.clusters.keys());
    names.add(own.cluster.name);
    for (const name of [...names].sort()) {
      const view = this.clusterView(name, inputs);
      if (view) clusters.set(name, view);
    }
    for (const name of this.views.keys()) if (!clusters.has(name)) this.views.delete(name);
    const previous = this.current;
    const unchanged =
      previous.source === inputs.source &&
      previous.connected === inputs.connected &&
      previous.clusters.size === clusters.size &&
      [...clusters].every(([name, view]) => previous.clusters.get(name) === view);
    if (unchanged) return undefined;
    return Object.freeze({
      revision: previous.revision + 1,
      source: inputs.source,
      connected: inputs.connected,
      syncedAt: inputs.syncedAt,
      clusters,
    });
  }

  private clusterView(name: string, { model, evaluation, own }: BuildInputs): ClusterView | undefined {
    const state = evaluation.clusters.get(name);
    const isOwn = name === own.cluster.name;
    const record = isOwn ? own.cluster : model.clusters.get(name);
    if (!record) return undefined;
    const members = state?.gateways ?? [];
    const signature = [
      model.version(name),
      isOwn ? own.version : '',
      state?.staleSince ?? '',
      ...members.map((g) => `${g.gk}:${g.freshness}`),
    ].join('|');
    const cached = this.views.get(name);
    if (cached && cached.signature === signature) return cached.view;

    const gateways: GatewayView[] = members.map(({ entry, freshness }) =>
      Object.freeze({ ...entry.record, freshness, leaseExpiresAt: entry.leaseScore ?? 0 }),
    );
    const anyLive = isOwn || state?.freshness === 'live';
    // Services come from live replicas when there are any, else from the stale ones; on conflict the
    // most recently started replica wins (a rollout's new config), this gateway first in its own cluster.
    const sources = members
      .filter((g) => !anyLive || g.freshness === 'live')
      .sort((a, b) => b.entry.record.startedAt - a.entry.record.startedAt || (a.gk < b.gk ? -1 : 1));
    const services = new Map<string, ServiceExport>();
    if (isOwn) {
      gateways.push(Object.freeze({ ...own.record, freshness: 'live', leaseExpiresAt: own.leaseExpiresAt }));
      gateways.sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const [key, service] of own.services) services.set(key, service);
    }
    for (const { entry } of sources) {
      for (const [key, stored] of entry.services) if (!services.has(key)) services.set(key, stored.record);
    }
    const view: ClusterView = Object.freeze({
      name,
      locality: record.locality,
      freshness: anyLive ? 'live' : 'stale',
      ...(anyLive || state?.staleSince === undefined ? {} : { staleSince: state.staleSince }),
      gateways: Object.freeze(gateways),
      services,
    });
    this.views.set(name, { signature, view });
    return view;
  }
}
