// Which services a change touches, so that a rebuild redoes only their routes: in a fabric of thousands of
// services a whole rebuild takes tens of milliseconds, and a busy fabric changes many times a second.
// Compares two generations of what the route table reads: the fabric view (per remote cluster its
// freshness, locality and gateways, then each service's export and serving replicas), the links to each
// remote cluster (probes, ejections: `links`) and the local catalog (unchanged services keep their
// objects). A remote cluster's RTT tier is compared apart: only the routes whose failover decision ranked
// that cluster by RTT read it (FailoverDecision.rttRanked), only a tier that passes another's changes
// their answer, and under load RTTs cross tier steps often.
// What these cannot show (a local endpoint's health or ejection, one service's cluster ejection, a
// failover decision's timer) the caller names itself.
import type { LocalService } from '../catalog/index.js';
import {
  compareNames,
  type ClusterView,
  type FabricSnapshot,
  type GatewayView,
  type ServiceExport,
} from '../../discovery/index.js';

export interface RouteInputs {
  readonly fabric: FabricSnapshot;
  readonly local: ReadonlyMap<string, LocalService>;
  /**
   * Per remote cluster, a signature of what its routes read besides its view and RTT: whether each
   * gateway answers probes and is ejected, whether the cluster is unreachable. Equal strings, equal links.
   */
  readonly links: ReadonlyMap<string, string>;
  /** Per remote cluster, its RTT tier as route decisions read it (rttTier: RTT_TIE_MS steps). */
  readonly rttTiers: ReadonlyMap<string, number>;
}

/**
 * The services whose routes may differ between two generations of the view and the catalog (`own`: this
 * cluster). The links and the RTT tiers are compared apart (addServicesOfChangedLinks,
 * servicesReRankedByRtt): the outlier groups follow what this returns before the links are read.
 */
export function changedServices(
  before: Pick<RouteInputs, 'fabric' | 'local'>,
  after: Pick<RouteInputs, 'fabric' | 'local'>,
  own: string,
): Set<string> {
  const changed = new Set<string>();
  const clusters = new Set([...before.fabric.clusters.keys(), ...after.fabric.clusters.keys()]);
  for (const name of clusters) {
    if (name === own) continue;
    const old = before.fabric.clusters.get(name);
    const now = after.fabric.clusters.get(name);
    if (old === now) continue;
    if (!old || !now || !samePlace(old, now)) {
      addServices(changed, old);
      addServices(changed, now);
      continue;
    }
    for (const [key, service] of old.services) {
      if (!sameExport(service, now.services.get(key)) || !sameServers(old, now, key)) changed.add(key);
    }
    for (const key of now.services.keys()) if (!old.services.has(key)) changed.add(key);
  }
  if (before.local !== after.local) {
    for (const [key, service] of after.local) if (before.local.get(key) !== service) changed.add(key);
    for (const key of before.local.keys()) if (!after.local.has(key)) changed.add(key);
  }
  return changed;
}

/** Adds to `into` the services of every remote cluster whose links differ between two generations. */
export function addServicesOfChangedLinks(
  before: RouteInputs,
  after: RouteInputs,
  own: string,
  into: Set<string>,
): void {
  for (const name of new Set([...before.links.keys(), ...after.links.keys()])) {
    if (name === own || before.links.get(name) === after.links.get(name)) continue;
    addServices(into, before.fabric.clusters.get(name));
    addServices(into, after.fabric.clusters.get(name));
  }
}

/** The remote clusters whose RTT tier differs between two generations. */
export function rttTierChanges(before: RouteInputs, after: RouteInputs): string[] {
  const changed: string[] = [];
  for (const [name, tier] of after.rttTiers) if (before.rttTiers.get(name) !== tier) changed.push(name);
  return changed;
}

/**
 * Adds to `into` the services whose route ranked one of `clusters` (their RTT tier changed) by RTT and
 * whose ranking differs under the new tiers: a tier that moves without passing another cluster's leaves
 * the answer as it was.
 */
export function servicesReRankedByRtt(
  routes: Iterable<RankedRoute>,
  clusters: readonly string[],
  before: RouteInputs,
  after: RouteInputs,
  into: Set<string>,
): void {
  for (const route of routes) {
    const ranked = route.decision?.rttRanked;
    if (!ranked || ranked.size < 2 || !clusters.some((name) => ranked.has(name))) continue;
    const members = [...ranked];
    if (!sameOrder(rankByRtt(members, before.rttTiers), rankByRtt(members, after.rttTiers)))
      into.add(route.service);
  }
}

/** What servicesReRankedByRtt reads of a route (ServiceRoute). */
interface RankedRoute {
  readonly service: string;
  readonly decision: { readonly rttRanked: ReadonlySet<string> } | undefined;
}

/** Clusters in the order failover-tiers.ts gives them: RTT tier, then name; this cluster's tier is 0. */
function rankByRtt(members: readonly string[], tiers: ReadonlyMap<string, number>): string[] {
  return [...members].sort((a, b) => (tiers.get(a) ?? 0) - (tiers.get(b) ?? 0) || compareNames(a, b));
}

function sameOrder(a: readonly string[], b: readonly string[]): boolean {
  return a.every((name, i) => name === b[i]);
}

function addServices(into: Set<string>, cluster: ClusterView | undefined): void {
  if (cluster) for (const key of cluster.services.keys()) into.add(key);
}

/** Everything of a cluster that every one of its routes reads: where it ranks, which gateways it has. */
function samePlace(a: ClusterView, b: ClusterView): boolean {
  return (
    a.freshness === b.freshness &&
    a.locality.cloud === b.locality.cloud &&
    a.locality.region === b.locality.region &&
    a.locality.zone === b.locality.zone &&
    (a.servedBy === undefined) === (b.servedBy === undefined) &&
    a.gateways.length === b.gateways.length &&
    a.gateways.every((g, i) => sameGateway(g, b.gateways[i]))
  );
}

function sameGateway(a: GatewayView, b: GatewayView | undefined): boolean {
  return b !== undefined && a.id === b.id && a.peerAddress === b.peerAddress && a.freshness === b.freshness;
}

/** What a route reads of an export: protocol, allow list, healthy endpoints (not ports or totals). */
function sameExport(a: ServiceExport, b: ServiceExport | undefined): boolean {
  if (b === undefined) return false;
  if (a === b) return true;
  return (
    a.protocol === b.protocol &&
    a.endpoints.healthy === b.endpoints.healthy &&
    (a.allow === null || b.allow === null
      ? a.allow === b.allow
      : a.allow.length === b.allow.length && a.allow.every((c, i) => c === b.allow?.[i]))
  );
}

function sameServers(a: ClusterView, b: ClusterView, key: string): boolean {
  const x = a.servedBy?.get(key);
  const y = b.servedBy?.get(key);
  if (x === y) return true;
  if (x === undefined || y === undefined || x.size !== y.size) return false;
  for (const id of x) if (!y.has(id)) return false;
  return true;
}
