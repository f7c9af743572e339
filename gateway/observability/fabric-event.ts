// What the dashboard's event list, the stats records and the logs say about a change in the fabric:
// a failover or failback of one service, or a cluster, gateway or discovery state change, always with
// the reason as the observing gateway understood it.
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
