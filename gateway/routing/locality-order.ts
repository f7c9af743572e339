// The failover order of remote clusters as seen from one cluster: same region first, then same cloud,
// then everything else; within a tier by name, so every gateway of a cluster agrees. Pure.
import type { Locality } from '../../discovery/index.js';
import { compareNames } from '../../discovery/index.js';

/** 0: same cloud and region, 1: same cloud, 2: elsewhere. */
export function localityTier(from: Locality, to: Locality): number {
  if (from.cloud === to.cloud && from.region === to.region) return 0;
  if (from.cloud === to.cloud) return 1;
  return 2;
}

export function byLocality<T extends { readonly name: string; readonly locality: Locality }>(
  from: Locality,
  clusters: readonly T[],
): T[] {
  return [...clusters].sort(
    (a, b) => localityTier(from, a.locality) - localityTier(from, b.locality) || compareNames(a.name, b.name),
  );
}
