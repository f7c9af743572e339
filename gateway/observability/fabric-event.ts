// What the dashboard's event list, the stats records and the logs say about a change in the fabric:
// a failover or failback of one service, or a cluster, gateway or discovery state change, always with
// the reason as the observing gateway understood it. Every list of them is bounded, and one cloud going
// down fails over each service it served: `latestEvents` keeps the cluster's own event in view of them.
import type { FabricEventRecord } from '../../discovery/index.js';

export type FabricEventKind =
  | 'failover'
  | 'failback'
  | 'routing-mode'
  | 'cluster-joined'
  | 'cluster-stale'
  | 'cluster-live'
  | 'cluster-left'
  | 'cluster-evicted'
  | 'gateway-joined'
  | 'gateway-left'
  | 'discovery-disconnected'
  | 'discovery-connected';

export interface FabricEvent extends FabricEventRecord {
  readonly kind: FabricEventKind;
  /** `<cluster>/<gateway id>` of the gateway that saw it. */
  readonly observer: string;
}

/** Events about one service (the failover policies' decisions), as opposed to the fabric's own state. */
export function isServiceEvent(event: { readonly kind: FabricEventKind }): boolean {
  return event.kind === 'failover' || event.kind === 'failback' || event.kind === 'routing-mode';
}

/**
 * The newest `limit` of `events` (given newest first; ties keep their order), except that the fabric's own
 * events (cluster, gateway, discovery) keep up to half the places however many service events came after
 * them: a cloud that goes down produces one `cluster-stale` and then a failover for every service it
 * served, and the cause must not be pushed out by its consequences.
 */
export function latestEvents<E extends { readonly kind: FabricEventKind }>(
  newestFirst: readonly E[],
  limit: number,
): E[] {
  const services = newestFirst.filter(isServiceEvent).length;
  const fabric = newestFirst.length - services;
  let servicePlaces = Math.min(services, limit - Math.min(fabric, Math.ceil(limit / 2)));
  let fabricPlaces = Math.min(fabric, limit - servicePlaces);
  return newestFirst.filter((e) => (isServiceEvent(e) ? servicePlaces-- > 0 : fabricPlaces-- > 0));
}
