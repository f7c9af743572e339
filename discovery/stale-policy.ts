// The stale-state policy: a gateway is live while its lease runs, stale for `staleFor` after it ended
// (usable as a last resort), then evicted. A cluster is live while any of its gateways is, stale while
// only stale ones remain, and gone when none remain. Pure: the caller passes the evaluation time, which
// is frozen while Redis is unreachable (no news is not bad news: leases cannot be renewed then).
import type { FabricModel, GatewayEntry } from './fabric-model.js';
import type { Freshness } from './fabric.js';

export interface GatewayState {
  readonly gk: string;
  readonly entry: GatewayEntry;
  readonly freshness: Freshness;
}

export interface ClusterState {
  readonly name: string;
  readonly freshness: Freshness;
  /** Server-clock epoch ms of the latest lease end, when the cluster is stale. */
  readonly staleSince?: number;
  readonly gateways: readonly GatewayState[];
}

export interface Evaluation {
  readonly clusters: ReadonlyMap<string, ClusterState>;
  /** Gateways stale for longer than staleFor: the caller removes them from the model. */
  readonly evict: readonly string[];
  /** Local-clock time of the next live→stale or stale→evicted transition; undefined when none. */
  readonly nextTransitionAt: number | undefined;
}

export function evaluate(model: FabricModel, evalNow: number, staleForMs: number): Evaluation {
  const clusters = new Map<string, ClusterState>();
  const evict: string[] = [];
  let nextTransitionAt: number | undefined;
  const consider = (at: number) => {
    if (nextTransitionAt === undefined || at < nextTransitionAt) nextTransitionAt = at;
  };
  for (const [name, members] of model.byCluster()) {
    const gateways: GatewayState[] = [];
    let anyLive = false;
    let staleSince: number | undefined;
    for (const [gk, entry] of members) {
      if (entry.leaseLocalEnd > evalNow) {
        gateways.push({ gk, entry, freshness: 'live' });
        anyLive = true;
        consider(entry.leaseLocalEnd);
      } else if (evalNow - entry.leaseLocalEnd <= staleForMs) {
        gateways.push({ gk, entry, freshness: 'stale' });
        consider(entry.leaseLocalEnd + staleForMs + 1);
        if (entry.leaseScore !== undefined) staleSince = Math.max(staleSince ?? 0, entry.leaseScore);
      } else {
        evict.push(gk);
      }
    }
    if (gateways.length === 0) continue;
    gateways.sort((a, b) => (a.entry.record.id < b.entry.record.id ? -1 : 1));
    clusters.set(
      name,
      anyLive
        ? { name, freshness: 'live', gateways }
        : { name, freshness: 'stale', gateways, ...(staleSince === undefined ? {} : { staleSince }) },
    );
  }
  return { clusters, evict, nextTransitionAt };
}
