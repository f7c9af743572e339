// The answer of a failover policy: the mode, each cluster's share of new requests and state, and a
// picker over the shares. Immutable; replaced by every evaluation.

export type IneligibleReason = 'unreachable' | 'no-healthy-endpoints' | 'ejected' | 'stale' | 'gone';

/** normal: live clusters serve; stale: only stale ones can; panic: only ejected ones can; none: nothing. */
export type FailoverMode = 'normal' | 'stale' | 'panic' | 'none';

export interface ClusterFailoverState {
  readonly cluster: string;
  readonly priority: number;
  readonly eligible: boolean;
  readonly reason?: IneligibleReason;
  /** 0 while held down, rising to 1 over the failback ramp; 1 when settled. */
  readonly readiness: number;
  readonly share: number;
  readonly holdDownRemainingMs?: number;
  readonly rampRemainingMs?: number;
}

/** An immutable answer: shares per cluster and a picker over them. */
export class FailoverDecision {
  readonly mode: FailoverMode;
  /** Clusters with a share above 0, best priority first; shares sum to 1 (empty when mode is none). */
  readonly shares: readonly { readonly cluster: string; readonly share: number }[];
  readonly clusters: readonly ClusterFailoverState[];
  /** Clock time when the answer changes by itself (hold-down end, ramp step); undefined when settled. */
  readonly reevaluateAt: number | undefined;
  /** The clusters this answer ranked by measured RTT: a change of their RTT tier may change it. */
  readonly rttRanked: ReadonlySet<string>;
  private readonly cumulative: Float64Array;

  constructor(
    mode: FailoverMode,
    shares: readonly { cluster: string; share: number }[],
    clusters: readonly ClusterFailoverState[],
    reevaluateAt: number | undefined,
    rttRanked: ReadonlySet<string>,
  ) {
    this.mode = mode;
    this.shares = shares;
    this.clusters = clusters;
    this.reevaluateAt = reevaluateAt;
    this.rttRanked = rttRanked;
    this.cumulative = new Float64Array(shares.length);
    let sum = 0;
    shares.forEach((s, i) => (this.cumulative[i] = sum += s.share));
  }

  /** The cluster for a uniform random `u` in [0, 1); undefined when nothing can serve. */
  pick(u: number): string | undefined {
    const count = this.shares.length;
    if (count === 0) return undefined;
    const target = u * (this.cumulative[count - 1] ?? 1);
    for (let i = 0; i < count - 1; i++)
      if (target < (this.cumulative[i] ?? 0)) return this.shares[i]?.cluster;
    return this.shares[count - 1]?.cluster;
  }

  shareOf(cluster: string): number {
    return this.shares.find((s) => s.cluster === cluster)?.share ?? 0;
  }
}
