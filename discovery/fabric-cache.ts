// The published side of the registry: builds immutable FabricSnapshots from the model, the stale-policy
// evaluation and this gateway's own registration, and hands them to subscribers. A cluster's replicas
// are merged into one view that still says which of them serve each service. Cluster views are
// shared between snapshots while nothing about that cluster changed, so a change in one cluster costs
// a rebuild of that cluster only. `snapshot()` is a field read.
import type { Logger } from 'pino';
import type { FabricModel, GatewayEntry } from './fabric-model.js';
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
    // Services come from live replicas when there are any, else from the stale ones, this gateway
    // first in its own cluster, then the most recently started (a rollout's new config wins a conflict).
    const sources: ReplicaExports[] = members
      .filter((g) => !anyLive || g.freshness === 'live')
      .sort((a, b) => b.entry.record.startedAt - a.entry.record.startedAt || (a.gk < b.gk ? -1 : 1))
      .map(({ entry }) => ({ id: entry.record.id, services: exportsOf(entry) }));
    if (isOwn) {
      gateways.push(Object.freeze({ ...own.record, freshness: 'live', leaseExpiresAt: own.leaseExpiresAt }));
      gateways.sort((a, b) => (a.id < b.id ? -1 : 1));
      sources.unshift({ id: own.record.id, services: own.services });
    }
    const { services, servedBy } = mergeExports(sources);
    const view: ClusterView = Object.freeze({
      name,
      locality: record.locality,
      freshness: anyLive ? 'live' : 'stale',
      ...(anyLive || state?.staleSince === undefined ? {} : { staleSince: state.staleSince }),
      gateways: Object.freeze(gateways),
      services,
      servedBy,
    });
    this.views.set(name, { signature, view });
    return view;
  }
}

/** A replica's exports as records, read from the model without copying. */
function* exportsOf(entry: GatewayEntry): Generator<readonly [string, ServiceExport]> {
  for (const [key, stored] of entry.services) yield [key, stored.record];
}

/** One replica's exports, for `mergeExports`. */
interface ReplicaExports {
  readonly id: string;
  readonly services: Iterable<readonly [string, ServiceExport]>;
}

/**
 * Merges the exports of a cluster's replicas (`sources` in precedence order) into one record per
 * service: protocol, allow list and ports of the first replica exporting it, endpoint counts of the
 * replica with the most healthy endpoints (the first of those on a tie); and, per service, which
 * replicas have a healthy endpoint. Calls from other clusters go only to those, so a replica that does
 * not export a service, or whose endpoints are all down, gets none of its calls, and one replica's
 * failure neither hides nor stands for the others'. Equal sets of ids are shared between services.
 */
function mergeExports(sources: readonly ReplicaExports[]): {
  services: Map<string, ServiceExport>;
  servedBy: Map<string, ReadonlySet<string>>;
} {
  if (sources.length === 1) return soleReplicaExports(sources[0] as ReplicaExports);
  const first = new Map<string, ServiceExport>();
  const best = new Map<string, ServiceExport>();
  const ids = new Map<string, string[]>();
  for (const { id, services } of sources) {
    for (const [key, service] of services) {
      if (!first.has(key)) first.set(key, service);
      const top = best.get(key);
      if (!top || service.endpoints.healthy > top.endpoints.healthy) best.set(key, service);
      if (service.endpoints.healthy <= 0) continue;
      const list = ids.get(key);
      if (list) list.push(id);
      else ids.set(key, [id]);
    }
  }
  const services = new Map<string, ServiceExport>();
  const servedBy = new Map<string, ReadonlySet<string>>();
  const shared = new Map<string, ReadonlySet<string>>();
  for (const [key, service] of first) {
    const counts = (best.get(key) ?? service).endpoints;
    services.set(
      key,
      counts === service.endpoints ? service : Object.freeze({ ...service, endpoints: counts }),
    );
    const list = (ids.get(key) ?? []).sort();
    const signature = list.join('\n');
    let set = shared.get(signature);
    if (!set) {
      set = new Set(list);
      shared.set(signature, set);
    }
    servedBy.set(key, set);
  }
  return { services, servedBy };
}

/**
 * mergeExports of a cluster with one replica (this gateway's own cluster, usually, rebuilt at each of its
 * registrations): every export as it is, served by that replica when it has a healthy endpoint.
 */
function soleReplicaExports({ id, services: exports }: ReplicaExports): {
  services: Map<string, ServiceExport>;
  servedBy: Map<string, ReadonlySet<string>>;
} {
  const services = new Map<string, ServiceExport>();
  const servedBy = new Map<string, ReadonlySet<string>>();
  const replica: ReadonlySet<string> = new Set([id]);
  const none: ReadonlySet<string> = new Set();
  for (const [key, service] of exports) {
    services.set(key, service);
    servedBy.set(key, service.endpoints.healthy > 0 ? replica : none);
  }
  return { services, servedBy };
}
