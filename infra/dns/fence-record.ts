// The zone-side half of fencing. Redis hands each leader a growing token; the leader writes it into a TXT
// in the zone (`_weft-fence-<owner>.<zone>`) when it takes over, and every later change batch asserts that
// TXT still holds its token (RFC 2136: a value-dependent prerequisite; Route 53: DELETE + CREATE of the
// same TXT inside the batch, which fails the whole batch if the value moved). A paused ex-leader that wakes
// up after a newer leader claimed the fence therefore cannot write, even if its Redis check raced. The
// value also names the leader instance, so a Redis failover that hands out a token twice is still caught.
import type { RecordSet } from './record-set.js';

export const FENCE_TTL_SECONDS = 60;

export function fenceName(zone: string, ownerId: string): string {
  return `_weft-fence-${ownerId}.${zone}`;
}

/** A leader's identity for fencing: its token and its instance id (two leaders never share both). */
export interface FenceHolder {
  readonly token: number;
  readonly instanceId: string;
}

export function fenceRecord(zone: string, ownerId: string, holder: FenceHolder): RecordSet {
  return {
    name: fenceName(zone, ownerId),
    type: 'TXT',
    ttl: FENCE_TTL_SECONDS,
    values: [`weft/owner=${ownerId},weft/fence=${holder.token},weft/leader=${holder.instanceId}`],
  };
}

/** Who the fence TXT names; undefined when absent or not weft's format. */
export function fenceHolder(set: RecordSet | undefined): FenceHolder | undefined {
  for (const value of set?.values ?? []) {
    const match = /^weft\/owner=[a-z0-9-]+,weft\/fence=(\d+),weft\/leader=(\S+)$/.exec(value);
    if (match) return { token: Number(match[1]), instanceId: match[2] ?? '' };
  }
  return undefined;
}

/**
 * Decides a claim against what the zone's fence holds: ours already, ours to take (older token, or none),
 * or ahead of us (a newer token, or the same token from another instance after Redis lost its counter).
 */
export function judgeFence(zone: FenceHolder | undefined, ours: FenceHolder): 'held' | 'take' | 'ahead' {
  if (!zone || zone.token < ours.token) return 'take';
  if (zone.token === ours.token && zone.instanceId === ours.instanceId) return 'held';
  return 'ahead';
}

/** What a provider found when claiming the fence for a token. */
export type FenceClaim =
  | { readonly claimed: true }
  /** The zone's fence holds a newer token than ours: we are a stale leader, or Redis lost its counter. */
  | { readonly claimed: false; readonly zoneToken: number };
