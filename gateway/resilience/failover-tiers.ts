// The arithmetic of a failover policy, pure and stateless: clusters → priority tiers → traffic shares.
// Tiers are taken in priority order. A weighted tier (any member has a weight) is a set of shares: each
// member carries weight/Σweight of what reaches the tier, scaled by its readiness (0 while dead or held
// down, ramping to 1 on failback), and whatever a member cannot carry spills to the next tier — so when
// one of two active-active clouds dies, its share fails over to the next tier instead of doubling the
// survivor. A tier without weights is a list of alternatives ordered by measured RTT (then name): the
// nearest ready cluster takes everything that reaches it. What no tier can carry (everything held down)
// goes to the usable clusters as if none were held down, so a hold-down never turns traffic away.
import { compareNames } from '../../discovery/index.js';

/** RTTs within the same step count as equal (then the name decides), so jitter does not move traffic. */
export const RTT_TIE_MS = 5;

export interface TierMember {
  readonly cluster: string;
  readonly priority: number;
  /** Explicit weight from the policy; undefined when the policy gives none. */
  readonly weight: number | undefined;
  readonly rttMs: number | undefined;
  /** 0..1: how much of its share it may carry now. */
  readonly ready: number;
  /** Whether it may carry traffic at all (the fallback when no tier is ready). */
  readonly usable: boolean;
}

interface Tier {
  readonly members: readonly { readonly cluster: string; readonly weight: number; readonly ready: number }[];
}

export interface Distribution {
  /** Shares (summing to 1, or empty when nothing is usable), by cluster. */
  readonly shares: Map<string, number>;
  /**
   * The clusters whose place measured RTT settled: members of a priority without weights that has other
   * members. Only for these does a change of RTT tier change the answer.
   */
  readonly rttRanked: ReadonlySet<string>;
}

export function distribute(members: readonly TierMember[]): Distribution {
  const { tiers, rttRanked } = buildTiers(members);
  const first = spill(tiers, (m) => m.ready);
  if (first.remaining > 1e-9) {
    const usable = new Set(members.filter((m) => m.usable).map((m) => m.cluster));
    const fallback = spill(tiers, (m) => (usable.has(m.cluster) ? 1 : 0));
    const carried = 1 - fallback.remaining;
    if (carried > 1e-9) {
      for (const [cluster, share] of fallback.shares) {
        first.shares.set(cluster, (first.shares.get(cluster) ?? 0) + (first.remaining * share) / carried);
      }
    }
  }
  for (const [cluster, share] of first.shares) if (share <= 1e-9) first.shares.delete(cluster);
  return { shares: first.shares, rttRanked };
}

function buildTiers(members: readonly TierMember[]): { tiers: Tier[]; rttRanked: ReadonlySet<string> } {
  const byPriority = new Map<number, TierMember[]>();
  for (const m of members) {
    const group = byPriority.get(m.priority) ?? [];
    group.push(m);
    byPriority.set(m.priority, group);
  }
  const tiers: Tier[] = [];
  const rttRanked = new Set<string>();
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const group = byPriority.get(priority) ?? [];
    if (group.some((m) => m.weight !== undefined)) {
      tiers.push({
        members: group.map((m) => ({ cluster: m.cluster, weight: m.weight ?? 1, ready: m.ready })),
      });
      continue;
    }
    if (group.length > 1) {
      for (const m of group) rttRanked.add(m.cluster);
    }
    const ordered = [...group].sort(
      (a, b) => rttTier(a.rttMs) - rttTier(b.rttMs) || compareNames(a.cluster, b.cluster),
    );
    for (const m of ordered) tiers.push({ members: [{ cluster: m.cluster, weight: 1, ready: m.ready }] });
  }
  return { tiers, rttRanked };
}

function spill(
  tiers: readonly Tier[],
  readyOf: (member: { cluster: string; ready: number }) => number,
): { shares: Map<string, number>; remaining: number } {
  const shares = new Map<string, number>();
  let remaining = 1;
  for (const tier of tiers) {
    const total = tier.members.reduce((sum, m) => sum + m.weight, 0);
    if (total <= 0) continue;
    let taken = 0;
    for (const m of tier.members) {
      const share = (remaining * m.weight * readyOf(m)) / total;
      if (share > 0) shares.set(m.cluster, (shares.get(m.cluster) ?? 0) + share);
      taken += share;
    }
    remaining -= taken;
    if (remaining <= 1e-9) return { shares, remaining: 0 };
  }
  return { shares, remaining };
}

/** RTTs in the same tier (RTT_TIE_MS wide) tie; an unknown RTT comes last. */
export function rttTier(rttMs: number | undefined): number {
  return rttMs === undefined ? Number.POSITIVE_INFINITY : Math.floor(rttMs / RTT_TIE_MS);
}
