// A FabricView the test controls: publish() swaps in a new snapshot and notifies subscribers, the way
// discovery does after a sync. Lets admin, control and DNS suites describe a fabric in a few lines.
import type {
  ClusterView,
  FabricSnapshot,
  FabricView,
  Freshness,
  Locality,
  Protocol,
  ServiceExport,
} from '../../discovery/index.js';

export interface ClusterSpec {
  readonly name: string;
  readonly locality?: Locality;
  readonly freshness?: Freshness;
  readonly staleSince?: number;
  readonly gateways?: readonly { id: string; leaseExpiresAt: number; freshness?: Freshness }[];
  readonly services?: readonly {
    key: string;
    protocol?: Protocol;
    allow?: readonly string[];
    total?: number;
    healthy?: number;
  }[];
}

export function clusterView(spec: ClusterSpec): ClusterView {
  const services = new Map<string, ServiceExport>();
  for (const s of spec.services ?? []) {
    const [name = '', namespace = ''] = s.key.split('.');
    services.set(s.key, {
      key: s.key,
      name,
      namespace,
      protocol: s.protocol ?? 'http',
      allow: s.allow ?? null,
      endpoints: { total: s.total ?? 1, healthy: s.healthy ?? s.total ?? 1 },
    });
  }
  return {
    name: spec.name,
    locality: spec.locality ?? { cloud: spec.name.split('-')[0] ?? 'test', region: 'r1' },
    freshness: spec.freshness ?? 'live',
    ...(spec.staleSince === undefined ? {} : { staleSince: spec.staleSince }),
    gateways: (spec.gateways ?? []).map((g) => ({
      cluster: spec.name,
      id: g.id,
      peerAddress: '127.0.0.1:4143',
      startedAt: 1_000,
      version: '0.1.0',
      freshness: g.freshness ?? 'live',
      leaseExpiresAt: g.leaseExpiresAt,
    })),
    services,
  };
}

export class StaticFabricView implements FabricView {
  private current: FabricSnapshot;
  private readonly listeners = new Set<(snapshot: FabricSnapshot) => void>();

  constructor(clusters: readonly ClusterSpec[] = [], fields: Partial<Omit<FabricSnapshot, 'clusters'>> = {}) {
    this.current = {
      revision: 1,
      source: 'redis',
      connected: true,
      syncedAt: 0,
      ...fields,
      clusters: new Map(clusters.map((c) => [c.name, clusterView(c)])),
    };
  }

  snapshot(): FabricSnapshot {
    return this.current;
  }

  subscribe(listener: (snapshot: FabricSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Replaces the snapshot (revision + 1) and notifies subscribers synchronously. */
  publish(clusters: readonly ClusterSpec[], fields: Partial<Omit<FabricSnapshot, 'clusters'>> = {}): void {
    this.current = {
      ...this.current,
      ...fields,
      revision: this.current.revision + 1,
      clusters: new Map(clusters.map((c) => [c.name, clusterView(c)])),
    };
    for (const listener of this.listeners) listener(this.current);
  }

  listenerCount(): number {
    return this.listeners.size;
  }
}
