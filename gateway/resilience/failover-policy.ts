// The failover policy of one service, seen from one gateway: given the clusters that export the service
// (with freshness, healthy endpoint count, measured RTT, passive ejection and probe reachability) it
// returns how to spread new requests over them. Local first (priority 0); then the remote clusters in
// locality order (same region → same cloud → others, RTT breaking ties) or in an explicit order; explicit
// priorities override both, and weights spread traffic within a priority (active-active). Stale clusters
// are used only when nothing live can serve; ejected ones only when nothing else can (panic).
// A cluster that comes back is held down for holdDownMs, then its share ramps up linearly over
// failbackRampMs, so flapping does not flap traffic. Each failover, failback and mode change is reported
// once, with the reason. Stateful (history per cluster) but pure: no timers, no I/O; the clock is
// injected and `reevaluateAt` says when the answer will change by itself.
import { localityTier } from '../routing/locality-order.js';
import type { Freshness, Locality } from '../../discovery/index.js';
import type { FailoverPolicyConfig } from '../config/index.js';
import { monotonicClock, type Clock } from './clock.js';
import {
  FailoverDecision,
  type ClusterFailoverState,
  type FailoverMode,
  type IneligibleReason,
} from './failover-decision.js';
import { describeCause, describeMode, type FailoverEvent } from './failover-events.js';
import { distribute, type TierMember } from './failover-tiers.js';
import { compareNames } from '../../discovery/index.js';

export interface FailoverCandidate {
  readonly name: string;
  readonly locality: Locality;
  readonly freshness: Freshness;
  /** Healthy endpoints the cluster reports for the service (this gateway's own count for the local one). */
  readonly healthyEndpoints: number;
  /** Measured round trip to the cluster's gateways (0 for the local cluster); undefined when unknown. */
  readonly rttMs?: number;
  /** Passive outlier detection ejected the cluster (for this service, or all its gateways). */
  readonly ejected: boolean;
  /** False when no gateway of the cluster answers probes. Default true. */
  readonly reachable?: boolean;
}

export interface FailoverPolicyOptions {
  /** name.namespace, for events. */
  readonly service: string;
  /** This gateway's cluster and locality. */
  readonly cluster: string;
  readonly locality: Locality;
  readonly policy: FailoverPolicyConfig;
  readonly now?: Clock;
  /** Why a cluster's gateways do not answer probes (the last probe error), for the failover's reason. */
  readonly probeError?: (cluster: string) => string | undefined;
  /** Called synchronously from `evaluate` for each transition. */
  readonly onEvent?: (event: FailoverEvent) => void;
}

interface History {
  eligible: boolean;
  reason: IneligibleReason | undefined;
  /** Since when eligible (−∞: eligible since first seen, never held down) or ineligible. */
  since: number;
  /** Came back after being ineligible and has not finished its ramp. */
  recovering: boolean;
  failbackAnnounced: boolean;
}

/** How often a ramping share is recomputed: 20 steps per ramp, no closer than this. */
const MIN_RAMP_STEP_MS = 250;

export class FailoverPolicy {
  private readonly options: FailoverPolicyOptions;
  private policy: FailoverPolicyConfig;
  private readonly now: Clock;
  private readonly history = new Map<string, History>();
  private previous: FailoverDecision | undefined;

  constructor(options: FailoverPolicyOptions) {
    this.options = options;
    this.policy = options.policy;
    this.now = options.now ?? monotonicClock;
  }

  /** A reloaded policy; the clusters' history (hold-downs in progress) is kept. */
  updatePolicy(policy: FailoverPolicyConfig): void {
    this.policy = policy;
  }

  /**
   * Clusters gone from the fabric for good (retired, see DataPlane.retireDeparted) leave the history:
   * with short-lived clusters (preview environments) it would grow for ever. One that returns is new
   * to the policy, as at start: not held down.
   */
  forgetClusters(clusters: ReadonlySet<string>): void {
    for (const cluster of clusters) this.history.delete(cluster);
  }

  /** The last decision, if any. */
  get current(): FailoverDecision | undefined {
    return this.previous;
  }

  /** Decides the shares for the clusters exporting the service now, updating history and reporting transitions. */
  evaluate(candidates: readonly FailoverCandidate[]): FailoverDecision {
    const now = this.now();
    const considered: { candidate: FailoverCandidate; priority: number }[] = [];
    for (const candidate of candidates) {
      const priority = this.priorityOf(candidate);
      if (priority !== undefined) considered.push({ candidate, priority });
    }
    this.updateHistory(considered, now);

    const liveEligible = (c: FailoverCandidate) => blocker(c) === undefined && c.freshness === 'live';
    const member = (c: FailoverCandidate, priority: number, ready: number, usable: boolean): TierMember => ({
      cluster: c.name,
      priority,
      weight: this.policy.weights[c.name],
      rttMs: c.rttMs,
      ready,
      usable,
    });
    let mode: FailoverMode;
    let members: TierMember[];
    if (considered.some(({ candidate }) => liveEligible(candidate))) {
      mode = 'normal';
      members = considered.map(({ candidate, priority }) =>
        liveEligible(candidate)
          ? member(candidate, priority, this.readiness(candidate.name, now), true)
          : member(candidate, priority, 0, false),
      );
    } else {
      const stale = (c: FailoverCandidate) => blocker(c) === undefined;
      const panic = (c: FailoverCandidate) => c.reachable !== false && c.healthyEndpoints > 0;
      const usable = considered.some(({ candidate }) => stale(candidate))
        ? ((mode = 'stale'), stale)
        : considered.some(({ candidate }) => panic(candidate))
          ? ((mode = 'panic'), panic)
          : ((mode = 'none'), () => false);
      members = considered.map(({ candidate, priority }) => {
        const ok = usable(candidate);
        return member(candidate, priority, ok ? 1 : 0, ok);
      });
    }
    const { shares, rttRanked } = distribute(members);
    const priorities = new Map(members.map((m) => [m.cluster, m.priority]));
    const ordered = [...shares.entries()]
      .map(([cluster, share]) => ({ cluster, share }))
      .sort(
        (a, b) =>
          (priorities.get(a.cluster) ?? 0) - (priorities.get(b.cluster) ?? 0) ||
          b.share - a.share ||
          compareNames(a.cluster, b.cluster),
      );
    const clusters = considered.map(({ candidate, priority }) =>
      this.clusterState(candidate, priority, shares, now),
    );
    this.report(mode, ordered, now);
    this.settle(now);
    const decision = new FailoverDecision(mode, ordered, clusters, this.nextChange(now), rttRanked);
    this.previous = decision;
    return decision;
  }

  private priorityOf(c: FailoverCandidate): number | undefined {
    const explicit = this.policy.priorities[c.name];
    if (explicit !== undefined) return explicit;
    const own = this.options.cluster;
    if (c.name === own) return 0;
    if (this.policy.mode === 'locality') return 1 + localityTier(this.options.locality, c.locality);
    const position = this.policy.order.filter((name) => name !== own).indexOf(c.name);
    return position < 0 ? undefined : 1 + position;
  }

  private updateHistory(considered: readonly { candidate: FailoverCandidate }[], now: number): void {
    const present = new Set<string>();
    for (const { candidate } of considered) {
      present.add(candidate.name);
      const reason = blocker(candidate) ?? (candidate.freshness === 'live' ? undefined : 'stale');
      const eligible = reason === undefined;
      const h = this.history.get(candidate.name);
      if (!h) {
        this.history.set(candidate.name, {
          eligible,
          reason,
          since: eligible ? Number.NEGATIVE_INFINITY : now,
          recovering: false,
          failbackAnnounced: false,
        });
      } else if (h.eligible !== eligible) {
        h.eligible = eligible;
        h.reason = reason;
        h.since = now;
        h.recovering = eligible;
        h.failbackAnnounced = false;
      } else {
        h.reason = reason;
      }
    }
    for (const [name, h] of this.history) {
      if (present.has(name) || !h.eligible) continue;
      h.eligible = false;
      h.reason = 'gone';
      h.since = now;
      h.recovering = false;
    }
  }

  private readiness(cluster: string, now: number): number {
    const h = this.history.get(cluster);
    if (!h?.eligible) return 0;
    if (!h.recovering) return 1;
    const elapsed = now - h.since;
    const { holdDownMs, failbackRampMs } = this.policy;
    if (elapsed < holdDownMs) return 0;
    if (failbackRampMs <= 0) return 1;
    return Math.min(1, (elapsed - holdDownMs) / failbackRampMs);
  }

  private clusterState(
    c: FailoverCandidate,
    priority: number,
    shares: ReadonlyMap<string, number>,
    now: number,
  ): ClusterFailoverState {
    const h = this.history.get(c.name);
    const readiness = this.readiness(c.name, now);
    const elapsed = h ? now - h.since : 0;
    const { holdDownMs, failbackRampMs } = this.policy;
    return {
      cluster: c.name,
      priority,
      eligible: h?.eligible ?? false,
      ...(h?.reason ? { reason: h.reason } : {}),
      readiness,
      share: shares.get(c.name) ?? 0,
      ...(h?.recovering && elapsed < holdDownMs
        ? { holdDownRemainingMs: Math.ceil(holdDownMs - elapsed) }
        : {}),
      ...(h?.recovering && elapsed >= holdDownMs && readiness < 1
        ? { rampRemainingMs: Math.ceil(holdDownMs + failbackRampMs - elapsed) }
        : {}),
    };
  }

  private nextChange(now: number): number | undefined {
    let next: number | undefined;
    const { holdDownMs, failbackRampMs } = this.policy;
    const step = Math.max(MIN_RAMP_STEP_MS, failbackRampMs / 20);
    for (const h of this.history.values()) {
      // Settled clusters (ramp over) are no longer recovering, see settle().
      if (!h.eligible || !h.recovering) continue;
      const holdEnds = h.since + holdDownMs;
      const rampEnds = holdEnds + failbackRampMs;
      const at = now < holdEnds ? holdEnds : Math.min(rampEnds, now + step);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  /** Recovered clusters whose ramp is over are settled: no longer recovering. */
  private settle(now: number): void {
    for (const [name, h] of this.history) {
      if (h.recovering && this.readiness(name, now) >= 1) h.recovering = false;
    }
  }

  private report(
    mode: FailoverMode,
    shares: readonly { cluster: string; share: number }[],
    now: number,
  ): void {
    const emit = this.options.onEvent;
    const previous = this.previous;
    if (!emit) return;
    // The first decision is where the service starts, not a move: a gateway starting while a cloud is
    // stale would otherwise report a mode change for each of its services.
    if (!previous) return;
    const shareOf = (cluster: string) => shares.find((s) => s.cluster === cluster)?.share ?? 0;
    this.reportMoves(emit, previous, shares, shareOf, now);
    if (mode !== previous.mode) {
      emit({
        type: 'mode',
        service: this.options.service,
        mode,
        previous: previous.mode,
        reason: describeMode(mode),
      });
    }
  }

  private reportMoves(
    emit: (event: FailoverEvent) => void,
    previous: FailoverDecision,
    shares: readonly { cluster: string; share: number }[],
    shareOf: (cluster: string) => number,
    now: number,
  ): void {
    const service = this.options.service;
    const grew = shares.filter((s) => s.share > previous.shareOf(s.cluster) + 1e-9).map((s) => s.cluster);
    const shrank = previous.shares.filter((s) => shareOf(s.cluster) < s.share - 1e-9).map((s) => s.cluster);
    for (const { cluster } of previous.shares) {
      const h = this.history.get(cluster);
      if (!h || h.eligible || shareOf(cluster) > 0) continue;
      const cause = h.reason ?? 'gone';
      emit({
        type: 'failover',
        service,
        cluster,
        cause,
        to: grew,
        reason: `${describeCause(cluster, service, cause, cluster === this.options.cluster, this.options.probeError)}; traffic moves to ${grew.length > 0 ? grew.join(', ') : 'nowhere'}`,
      });
    }
    for (const { cluster, share } of shares) {
      const h = this.history.get(cluster);
      if (!h?.recovering || h.failbackAnnounced || share <= 0) continue;
      h.failbackAnnounced = true;
      const healthyForMs = Math.round(now - h.since);
      const { holdDownMs, failbackRampMs } = this.policy;
      const how =
        this.readiness(cluster, now) === 0
          ? 'no settled cluster can carry its traffic, so the hold-down is cut short'
          : failbackRampMs > 0
            ? `hold-down ${holdDownMs} ms passed; shifting traffic back over ${failbackRampMs} ms`
            : `hold-down ${holdDownMs} ms passed; traffic back at once`;
      emit({
        type: 'failback',
        service,
        cluster,
        from: shrank,
        reason: `${cluster} healthy again for ${healthyForMs} ms; ${how}`,
      });
    }
  }
}

/** Why a cluster cannot serve now, staleness aside. */
function blocker(c: FailoverCandidate): IneligibleReason | undefined {
  if (c.reachable === false) return 'unreachable';
  if (c.healthyEndpoints <= 0) return 'no-healthy-endpoints';
  if (c.ejected) return 'ejected';
  return undefined;
}
