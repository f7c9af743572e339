// Passive outlier detection on real traffic (Envoy's consecutive-failure and failure-percentage
// ejection): members of a group (the endpoints of a service, the gateways of a cluster, the clusters
// serving a service) are ejected after N consecutive local-origin failures (connect refused, reset,
// timeout, TLS or identity failure), M consecutive upstream-origin failures (5xx), or a failure share
// over a threshold within a window (a member failing every other request never fails N times in a
// row), for a time that grows with each repeat ejection (base × n,
// capped) and is forgiven again while the member behaves. At most maxEjectionPercent of a group is
// ejected at once (one member always may be); when every member is ejected the group is in panic and
// `available` treats all as usable, because a guess beats a certain 503. Cancelled attempts never count.
// Pure: no timers, no I/O; time comes from the injected clock and expiry is applied by `sweep()`.
import type { OutcomeKind } from '../routing/outcome.js';
import { monotonicClock, type Clock } from './clock.js';
import type { OutlierDetectionConfig } from '../config/index.js';

export type EjectionReason = 'consecutive-local-origin-failures' | 'consecutive-5xx' | 'failure-percentage';

export interface OutlierEvent {
  readonly type: 'ejected' | 'returned';
  readonly group: string;
  readonly member: string;
  /** Why it was ejected (also on 'returned', the ejection that ended). */
  readonly reason: EjectionReason;
  /** How many times in a row (not yet forgiven) this member has been ejected, this one included. */
  readonly ejections: number;
  /** 'ejected': for how long. */
  readonly durationMs: number;
}

export type OutlierListener = (event: OutlierEvent) => void;

export interface OutlierDetectorOptions extends OutlierDetectionConfig {
  readonly now?: Clock;
}

export interface OutlierMemberState {
  readonly member: string;
  readonly ejected: boolean;
  /** Remaining ejection, while ejected. */
  readonly remainingMs?: number;
  readonly reason?: EjectionReason;
  readonly ejections: number;
  readonly consecutiveLocalOriginFailures: number;
  readonly consecutive5xx: number;
}

export interface OutlierGroupState {
  readonly group: string;
  readonly members: number;
  readonly ejected: number;
  readonly panic: boolean;
  readonly memberStates: readonly OutlierMemberState[];
}

interface Member {
  local: number;
  upstream: number;
  /** 0 when not ejected. */
  ejectedUntil: number;
  reason: EjectionReason | undefined;
  /** Ejection multiplier, decays by one per baseEjectionMs of good behaviour after a return. */
  ejections: number;
  returnedAt: number;
  /** The failure-percentage window: when it started, attempts and failures in it. */
  windowStartedAt: number;
  windowAttempts: number;
  windowFailures: number;
}

export class OutlierDetector {
  private readonly options: OutlierDetectionConfig;
  private readonly now: Clock;
  private readonly groups = new Map<string, Map<string, Member>>();
  /** Groups whose members were declared (setMembers, retain): only those members are tracked. */
  private readonly declared = new Set<string>();
  /** No ejection ends before this (clock ms): a sweep earlier has nothing to do and reads no member. */
  private sweepFrom = Number.POSITIVE_INFINITY;
  /**
   * Whether a member may be ejected: false from a sweep that found none until the next ejection. The
   * usual answer, then, reads no member and no clock (the gateway asks for every local endpoint when it
   * publishes its exports, and for every endpoint of a route it builds).
   */
  private mayBeEjected = false;
  private readonly listeners = new Set<OutlierListener>();
  /** Ejections that happened, and ones the max-ejection cap prevented (Envoy's ejections_overflow). */
  readonly totals = { ejections: 0, overflow: 0 };

  constructor(options: OutlierDetectorOptions) {
    this.options = options;
    this.now = options.now ?? monotonicClock;
  }

  /** Listeners run synchronously on ejection (in `report`) and return (in `sweep`). */
  subscribe(listener: OutlierListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Declares a group's members (e.g. whenever they change). Members not listed are forgotten with their
   * history, and a late report for one (an attempt that started before it left) is ignored: brought back,
   * it would count in the group's size, so its last real member's ejection would never be panic. In a
   * group never declared, members are added on first report.
   */
  setMembers(group: string, members: Iterable<string>): void {
    const wanted = new Set(members);
    this.declared.add(group);
    if (wanted.size === 0) {
      this.groups.delete(group);
      return;
    }
    // In place: a report() that ejects may be running further up the stack (its listeners rebuild routes).
    let current = this.groups.get(group);
    if (!current) {
      current = new Map<string, Member>();
      this.groups.set(group, current);
    }
    for (const member of current.keys()) if (!wanted.has(member)) current.delete(member);
    for (const member of wanted) if (!current.has(member)) current.set(member, freshMember());
  }

  /**
   * Declares every group at once: groups not listed are forgotten, the others get `setMembers`. Without
   * it members that left (an endpoint's old address, a restarted gateway's old id) would stay for good,
   * growing the state and counting in their group's size, which skews the ejection cap and panic.
   */
  retain(groups: ReadonlyMap<string, Iterable<string>>): void {
    for (const group of this.groups.keys()) if (!groups.has(group)) this.groups.delete(group);
    for (const group of this.declared) if (!groups.has(group)) this.declared.delete(group);
    for (const [group, members] of groups) this.setMembers(group, members);
  }

  /**
   * Declares the groups listed (`setMembers`) and leaves the others as they are: for a change that
   * touched a few groups among thousands. A group listed without members keeps its declaration, so a
   * late report from an attempt that started before its members left does not bring it back (a group
   * gone for good is dropped with `forget`).
   */
  update(groups: ReadonlyMap<string, Iterable<string>>): void {
    for (const [group, members] of groups) this.setMembers(group, members);
  }

  /** Drops groups, their declaration included: names gone for good (see Departures). */
  forget(groups: Iterable<string>): void {
    for (const group of groups) {
      this.groups.delete(group);
      this.declared.delete(group);
    }
  }

  /** Feeds one attempt's outcome. O(1) unless it ejects (then O(group size)). */
  report(group: string, member: string, outcome: OutcomeKind): void {
    if (outcome === 'cancelled') return;
    let members = this.groups.get(group);
    if (!members) {
      if (this.declared.has(group)) return;
      members = new Map();
      this.groups.set(group, members);
    }
    let state = members.get(member);
    if (!state) {
      if (this.declared.has(group)) return;
      state = freshMember();
      members.set(member, state);
    }
    const now = this.now();
    if (state.ejectedUntil > now) {
      // Attempts that started before the ejection, or panic traffic: they neither extend nor end it.
      if (outcome === 'success') state.local = state.upstream = 0;
      return;
    }
    const share = this.options.failurePercentage;
    if (now - state.windowStartedAt >= share.windowMs) {
      state.windowStartedAt = now;
      state.windowAttempts = state.windowFailures = 0;
    }
    state.windowAttempts++;
    switch (outcome) {
      case 'success':
        state.local = 0;
        state.upstream = 0;
        return;
      case 'upstream-origin':
        // The connection worked: a 5xx ends a run of local-origin failures.
        state.local = 0;
        state.windowFailures++;
        if (++state.upstream >= this.options.consecutive5xx)
          this.eject(group, member, state, members, 'consecutive-5xx', now);
        else this.checkFailureShare(group, member, state, members, now);
        return;
      case 'local-origin':
        state.windowFailures++;
        if (++state.local >= this.options.consecutiveLocalOriginFailures)
          this.eject(group, member, state, members, 'consecutive-local-origin-failures', now);
        else this.checkFailureShare(group, member, state, members, now);
        return;
    }
  }

  private checkFailureShare(
    group: string,
    member: string,
    state: Member,
    members: ReadonlyMap<string, Member>,
    now: number,
  ): void {
    const { threshold, minRequests } = this.options.failurePercentage;
    if (
      threshold > 0 &&
      state.windowAttempts >= minRequests &&
      state.windowFailures * 100 >= threshold * state.windowAttempts
    )
      this.eject(group, member, state, members, 'failure-percentage', now);
  }

  /** Whether any member of any group may be ejected now; false means none is. */
  get ejecting(): boolean {
    return this.mayBeEjected;
  }

  /** Whether the member is ejected right now (regardless of panic). A read: no events, no mutation. */
  isEjected(group: string, member: string): boolean {
    if (!this.mayBeEjected) return false;
    const state = this.groups.get(group)?.get(member);
    return state !== undefined && state.ejectedUntil > this.now();
  }

  /** Every member of the group is ejected (a group with no members is not in panic). */
  panic(group: string): boolean {
    if (!this.mayBeEjected) return false;
    const members = this.groups.get(group);
    if (!members || members.size === 0) return false;
    const now = this.now();
    for (const state of members.values()) if (state.ejectedUntil <= now) return false;
    return true;
  }

  /** Whether to send traffic to the member: not ejected, or the whole group is (panic). */
  available(group: string, member: string): boolean {
    return !this.isEjected(group, member) || this.panic(group);
  }

  /** Returns members whose ejection has expired, emitting 'returned'. Call from a periodic timer. */
  sweep(): void {
    const now = this.now();
    if (now < this.sweepFrom) return;
    // Lowered again below by what stays ejected, and by any ejection a 'returned' listener causes.
    this.sweepFrom = Number.POSITIVE_INFINITY;
    for (const [group, members] of this.groups) {
      for (const [member, state] of members) {
        if (state.ejectedUntil === 0) continue;
        if (state.ejectedUntil <= now) this.expire(group, member, state);
        else this.sweepFrom = Math.min(this.sweepFrom, state.ejectedUntil);
      }
    }
    this.mayBeEjected = this.sweepFrom !== Number.POSITIVE_INFINITY;
  }

  /** When the next ejection expires (clock ms), for scheduling `sweep`; undefined when none is ejected. */
  nextExpiryAt(): number | undefined {
    let next: number | undefined;
    for (const members of this.groups.values()) {
      for (const state of members.values()) {
        if (state.ejectedUntil > 0 && (next === undefined || state.ejectedUntil < next))
          next = state.ejectedUntil;
      }
    }
    return next;
  }

  /** For the admin API and metrics. */
  state(): OutlierGroupState[] {
    const now = this.now();
    const out: OutlierGroupState[] = [];
    for (const [group, members] of this.groups) {
      const memberStates: OutlierMemberState[] = [];
      let ejected = 0;
      for (const [member, s] of members) {
        const isEjected = s.ejectedUntil > now;
        if (isEjected) ejected++;
        memberStates.push({
          member,
          ejected: isEjected,
          ...(isEjected ? { remainingMs: Math.ceil(s.ejectedUntil - now), reason: s.reason } : {}),
          ejections: s.ejections,
          consecutiveLocalOriginFailures: s.local,
          consecutive5xx: s.upstream,
        });
      }
      out.push({
        group,
        members: members.size,
        ejected,
        panic: ejected > 0 && ejected === members.size,
        memberStates,
      });
    }
    return out;
  }

  private eject(
    group: string,
    member: string,
    state: Member,
    members: ReadonlyMap<string, Member>,
    reason: EjectionReason,
    now: number,
  ): void {
    const { maxEjectionPercent, baseEjectionMs, maxEjectionMs } = this.options;
    let ejected = 0;
    for (const other of members.values()) if (other.ejectedUntil > now) ejected++;
    const capped =
      maxEjectionPercent === 0 || (ejected > 0 && (ejected + 1) * 100 > maxEjectionPercent * members.size);
    if (capped) {
      this.totals.overflow++;
      return;
    }
    if (state.ejectedUntil !== 0) this.expire(group, member, state);
    if (state.ejections > 0 && state.returnedAt > 0) {
      const forgiven = Math.floor((now - state.returnedAt) / baseEjectionMs);
      state.ejections = Math.max(0, state.ejections - forgiven);
    }
    state.ejections++;
    const durationMs = Math.min(baseEjectionMs * state.ejections, maxEjectionMs);
    state.ejectedUntil = now + durationMs;
    this.sweepFrom = Math.min(this.sweepFrom, state.ejectedUntil);
    this.mayBeEjected = true;
    state.reason = reason;
    state.local = state.upstream = 0;
    state.windowAttempts = state.windowFailures = 0;
    this.totals.ejections++;
    this.emit({ type: 'ejected', group, member, reason, ejections: state.ejections, durationMs });
  }

  /** Ends an expired ejection (sweep, or a new ejection before the sweep got to it). */
  private expire(group: string, member: string, state: Member): void {
    const reason = state.reason as EjectionReason;
    state.returnedAt = state.ejectedUntil;
    state.ejectedUntil = 0;
    state.reason = undefined;
    state.local = state.upstream = 0;
    state.windowStartedAt = state.returnedAt;
    state.windowAttempts = state.windowFailures = 0;
    this.emit({ type: 'returned', group, member, reason, ejections: state.ejections, durationMs: 0 });
  }

  private emit(event: OutlierEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

function freshMember(): Member {
  return {
    local: 0,
    upstream: 0,
    ejectedUntil: 0,
    reason: undefined,
    ejections: 0,
    returnedAt: 0,
    windowStartedAt: Number.NEGATIVE_INFINITY,
    windowAttempts: 0,
    windowFailures: 0,
  };
}
