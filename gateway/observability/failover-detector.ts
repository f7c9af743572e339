// Failover and failback events, read from two successive readings of the data plane's route state
// (`DataPlane.state().routes`, passed as unknown and read defensively). For each service the *target* is
// where new requests go now: local endpoints first, then the first remote cluster in failover order that
// is live and has a reachable gateway, then a stale one as a last resort. A change of target is a
// failover (to a less preferred target) or a failback (to a more preferred one), and the reason is read
// off the new state: no healthy local endpoints, cluster stale, gateways unreachable, export withdrawn.
import type { FabricEvent } from './fabric-event.js';

interface RemoteRoute {
  readonly cluster: string;
  readonly stale: boolean;
  readonly available: boolean;
}

export interface RouteReading {
  readonly service: string;
  readonly local: boolean;
  readonly remotes: readonly RemoteRoute[];
  readonly deniedBy: readonly string[];
  readonly unhealthyIn: readonly string[];
}

export interface PeerReading {
  readonly cluster: string;
  readonly available: boolean;
  readonly lastError?: string;
}

export interface RouteTarget {
  /** The cluster new requests go to; null when nothing can serve the service. */
  readonly cluster: string | null;
  /** 0 for local, 1 + index in failover order for a remote cluster, Infinity for none. */
  readonly rank: number;
  readonly stale: boolean;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The routes in a data plane state, by service; unknown shapes read as no routes. */
export function readRoutes(state: unknown): Map<string, RouteReading> {
  const routes = new Map<string, RouteReading>();
  const list = record(state)?.routes;
  if (!Array.isArray(list)) return routes;
  for (const item of list) {
    const route = record(item);
    if (!route || typeof route.service !== 'string') continue;
    const remotes: RemoteRoute[] = [];
    for (const entry of Array.isArray(route.failover) ? route.failover : []) {
      const remote = record(entry);
      if (!remote || typeof remote.cluster !== 'string') continue;
      const gateways = Array.isArray(remote.gateways) ? remote.gateways : [];
      remotes.push({
        cluster: remote.cluster,
        stale: remote.stale === true,
        available: gateways.some((g) => record(g)?.available === true),
      });
    }
    routes.set(route.service, {
      service: route.service,
      local: strings(route.local).length > 0,
      remotes,
      deniedBy: strings(route.deniedBy),
      unhealthyIn: strings(route.unhealthyIn),
    });
  }
  return routes;
}

/** The peer gateways in a data plane state; unknown shapes read as none. */
export function readPeers(state: unknown): PeerReading[] {
  const list = record(state)?.peers;
  if (!Array.isArray(list)) return [];
  const peers: PeerReading[] = [];
  for (const item of list) {
    const peer = record(item);
    if (!peer || typeof peer.cluster !== 'string') continue;
    peers.push({
      cluster: peer.cluster,
      available: peer.available === true,
      ...(typeof peer.lastError === 'string' ? { lastError: peer.lastError } : {}),
    });
  }
  return peers;
}

export function targetOf(route: RouteReading, localCluster: string): RouteTarget {
  if (route.local) return { cluster: localCluster, rank: 0, stale: false };
  const live = route.remotes.findIndex((r) => !r.stale && r.available);
  if (live >= 0) return { cluster: route.remotes[live]?.cluster ?? null, rank: live + 1, stale: false };
  const lastResort = route.remotes.findIndex((r) => r.available);
  if (lastResort >= 0)
    return { cluster: route.remotes[lastResort]?.cluster ?? null, rank: lastResort + 1, stale: true };
  return { cluster: null, rank: Infinity, stale: false };
}

/** Why `from` no longer receives new requests for `route.service`, as the new route state shows it. */
function leavingReason(
  from: string,
  route: RouteReading,
  localCluster: string,
  peers: readonly PeerReading[],
): string {
  if (from === localCluster) {
    return route.unhealthyIn.includes(localCluster)
      ? `no healthy local endpoint of ${route.service} is left in ${localCluster}`
      : `${localCluster} no longer serves ${route.service} locally`;
  }
  const remote = route.remotes.find((r) => r.cluster === from);
  if (!remote) {
    if (route.deniedBy.includes(from)) return `${from} no longer allows calls from ${localCluster}`;
    if (route.unhealthyIn.includes(from)) return `${from} reports no healthy endpoint of ${route.service}`;
    return `${from} no longer exports ${route.service} (withdrawn or evicted)`;
  }
  if (!remote.available) {
    const error = peers.find((p) => p.cluster === from && !p.available && p.lastError)?.lastError;
    return `no gateway of ${from} is reachable${error ? `: ${error}` : ''}`;
  }
  if (remote.stale) return `${from} is stale: its gateways' leases expired (no heartbeat reached Redis)`;
  return `${from} dropped behind another cluster in failover order`;
}

/** Events for every service whose target changed between two route readings. */
export function failoverEvents(
  previous: ReadonlyMap<string, RouteReading>,
  next: ReadonlyMap<string, RouteReading>,
  context: {
    readonly localCluster: string;
    readonly at: number;
    readonly observer: string;
    readonly peers: readonly PeerReading[];
  },
): FabricEvent[] {
  const events: FabricEvent[] = [];
  const { localCluster, at, observer, peers } = context;
  for (const [service, route] of next) {
    const before = previous.get(service);
    if (!before) continue;
    const was = targetOf(before, localCluster);
    const now = targetOf(route, localCluster);
    if (was.cluster === now.cluster) continue;
    const base = { at, observer, service, from: was.cluster, to: now.cluster };
    if (now.cluster === null) {
      const why =
        was.cluster === null ? 'nothing serves it' : leavingReason(was.cluster, route, localCluster, peers);
      events.push({ ...base, kind: 'failover', reason: `${why}; no other cluster can serve ${service} now` });
    } else if (was.cluster === null || now.rank < was.rank) {
      const what =
        now.cluster === localCluster
          ? `local endpoints of ${service} are healthy again`
          : `${now.cluster} is preferred and can serve ${service} again`;
      events.push({ ...base, kind: 'failback', reason: now.stale ? `${what} (stale, last resort)` : what });
    } else {
      const why = leavingReason(was.cluster, route, localCluster, peers);
      const last = now.stale ? ` (${now.cluster} is stale: a last resort)` : '';
      events.push({
        ...base,
        kind: 'failover',
        reason: `${why}; sending ${service} to ${now.cluster}${last}`,
      });
    }
  }
  return events;
}
