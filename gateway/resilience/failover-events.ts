// The transitions a failover policy reports, once each, with a reason a person can act on.
import type { FailoverMode, IneligibleReason } from './failover-decision.js';

export type FailoverEvent =
  | {
      readonly type: 'failover';
      readonly service: string;
      /** The cluster that lost its traffic. */
      readonly cluster: string;
      readonly cause: IneligibleReason;
      /** Clusters whose share grew. */
      readonly to: readonly string[];
      readonly reason: string;
    }
  | {
      readonly type: 'failback';
      readonly service: string;
      /** The recovered cluster that starts taking traffic back. */
      readonly cluster: string;
      /** Clusters whose share shrank. */
      readonly from: readonly string[];
      readonly reason: string;
    }
  | {
      readonly type: 'mode';
      readonly service: string;
      readonly mode: FailoverMode;
      readonly previous: FailoverMode;
      readonly reason: string;
    };

/**
 * Why `cluster` lost its share of `service`; `own`: it is the deciding gateway's own cluster; `probeError`:
 * what the probes of an unreachable cluster's gateways last failed with.
 */
export function describeCause(
  cluster: string,
  service: string,
  cause: IneligibleReason,
  own: boolean,
  probeError?: (cluster: string) => string | undefined,
): string {
  switch (cause) {
    case 'unreachable': {
      const error = probeError?.(cluster);
      return `no gateway of ${cluster} answers probes${error === undefined ? '' : ` (${error})`}`;
    }
    case 'no-healthy-endpoints':
      return `${cluster} has no healthy endpoint for ${service}`;
    case 'ejected':
      return `${cluster} ejected for ${service} by outlier detection (consecutive failures)`;
    case 'stale':
      return `${cluster}'s lease expired (stale)`;
    case 'gone':
      if (own) return `${service} is no longer registered in ${cluster}`;
      // The route table leaves out a cluster whose `allow` list stopped naming the caller, as one whose
      // export was withdrawn or evicted: the policy sees neither.
      return `${cluster} no longer offers ${service} here (export withdrawn or evicted, or its allow list no longer names this cluster)`;
  }
}

export function describeMode(mode: FailoverMode): string {
  switch (mode) {
    case 'normal':
      return 'live clusters can serve again';
    case 'stale':
      return 'no live cluster can serve; using clusters whose lease expired (stale)';
    case 'panic':
      return 'every cluster that could serve is ejected; panic: sending to them anyway';
    case 'none':
      return 'no cluster can serve';
  }
}
