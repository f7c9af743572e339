// The global DNS failover publisher. Every gateway may run one; exactly one, the holder of the Redis lease,
// publishes. Each cycle it turns the latest cluster health (after hold-down) into the records that should
// exist, diffs them against the provider (owned records only) and applies the difference batch by batch,
// checking its lease immediately before each batch. It never withdraws a record entirely: when no target
// of a record is healthy it keeps the last healthy set and reports it.
//
// Timing: a cycle runs every intervalMs, at once when the publishable set changes, and when a held-down
// cluster's hold-down ends. Cycles never overlap. The Redis client and the provider belong to the caller.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { InfraError } from '../errors.js';
import { describeUnit, type PlanNote } from './change-plan.js';
import { systemClock, type DnsClock } from './dns-clock.js';
import type { DnsProvider } from './dns-provider.js';
import { applyDnsPlan, planDns } from './dns-sync.js';
import type { FenceHolder } from './fence-record.js';
import { HealthGate } from './health-gate.js';
import { LeaderLease, type Lease } from './leader-lease.js';
import { PublisherStateStore } from './publisher-state-store.js';
import { recordKey, type RecordKey } from './record-set.js';
import { validateRecordSpecs, type ClusterHealth, type DnsRecordSpec } from './record-spec.js';

export interface DnsPublisherOptions {
  readonly redis: Redis | Cluster;
  readonly provider: DnsProvider;
  /** Written into ownership TXTs and names the election; a DNS label of at most 40 characters. */
  readonly ownerId: string;
  readonly records: readonly DnsRecordSpec[];
  /** Unique per process; default `<host>/<pid>/<random>`. */
  readonly instanceId?: string;
  /** Default 5000. */
  readonly intervalMs?: number;
  /** How long a recovered cluster must stay healthy before it is published again; default 30000. */
  readonly holdDownMs?: number;
  /** Default 10000. */
  readonly leaseTtlMs?: number;
  /** Re-read the provider at least this often even when nothing changed; default 60000. */
  readonly resyncIntervalMs?: number;
  /** Default 100. */
  readonly maxChangesPerBatch?: number;
  readonly clock?: DnsClock;
  /** Monotonic ms for the lease; default performance.now. */
  readonly monotonicNow?: () => number;
}

export type DnsPublisherEvent =
  | { readonly type: 'leader'; readonly token: number }
  | { readonly type: 'follower' }
  | {
      readonly type: 'applied';
      readonly token: number;
      readonly batches: number;
      readonly changes: readonly string[];
    }
  | { readonly type: 'held'; readonly messages: readonly string[] }
  | { readonly type: 'foreign'; readonly messages: readonly string[] }
  | { readonly type: 'error'; readonly error: Error };

export interface DnsPublisherStatus {
  readonly role: 'leader' | 'follower' | 'closed';
  readonly instanceId: string;
  readonly token?: number;
  /** True until the first health report arrives: nothing is published before it. */
  readonly waitingForHealth: boolean;
  readonly publishable: readonly string[];
  /** Healthy clusters waiting out their hold-down, with the epoch ms they come back. */
  readonly heldDown: readonly { readonly cluster: string; readonly until: number }[];
  /** Records kept on their last healthy set because no target is healthy (split-brain guard). */
  readonly heldRecords: readonly string[];
  /** Configured records someone else owns, left untouched. */
  readonly foreign: readonly string[];
  readonly lastSyncAt?: number;
  readonly lastError?: string;
}

export class DnsPublisher {
  readonly instanceId: string;
  private readonly options: DnsPublisherOptions;
  private readonly provider: DnsProvider;
  private readonly clock: DnsClock;
  private readonly lease: LeaderLease;
  private readonly store: PublisherStateStore;
  private readonly gate: HealthGate;
  private readonly intervalMs: number;
  private readonly resyncIntervalMs: number;
  private readonly clusters: readonly string[];
  private readonly listeners = new Set<(event: DnsPublisherEvent) => void>();
  private health: readonly ClusterHealth[] | undefined;
  private fence: FenceHolder | undefined;
  private owned: readonly RecordKey[] = [];
  private lastSignature = '';
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private dirty = true;
  private heldRecords: readonly string[] = [];
  private foreign: readonly string[] = [];
  private lastSyncAt: number | undefined;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private ticker: NodeJS.Timeout | undefined;
  private wake: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private unsubscribeLease: (() => void) | undefined;
  private closed = false;

  constructor(options: DnsPublisherOptions) {
    validateRecordSpecs(options.records, options.provider.zone, options.ownerId);
    this.options = options;
    this.provider = options.provider;
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? 5000;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.instanceId = options.instanceId ?? `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
    this.lease = new LeaderLease({
      redis: options.redis,
      ownerId: options.ownerId,
      instanceId: this.instanceId,
      ttlMs: options.leaseTtlMs ?? 10_000,
      ...(options.monotonicNow ? { monotonicNow: options.monotonicNow } : {}),
    });
    this.store = new PublisherStateStore(options.redis, options.ownerId);
    this.gate = new HealthGate(options.holdDownMs ?? 30_000);
    this.clusters = [...new Set(options.records.flatMap((r) => r.targets.map((t) => t.cluster)))];
  }

  /** Joins the election and starts the publish loop. Idempotent. */
  start(): void {
    if (this.ticker || this.closed) return;
    this.unsubscribeLease = this.lease.subscribe((lease) => this.onLease(lease));
    this.lease.start();
    this.ticker = setInterval(() => this.trigger(), this.intervalMs);
    this.ticker.unref();
  }

  /**
   * Feeds a complete health report (every cluster the publisher should know about; a missing cluster
   * counts as down). Cheap and synchronous; a change of the publishable set triggers a cycle at once.
   */
  setHealth(report: readonly ClusterHealth[]): void {
    if (this.closed) return;
    const before = this.signature();
    this.health = [...report];
    this.gate.observe(this.health, this.clock.now(), this.clusters);
    if (this.signature() !== before || this.lastSignature === '') this.trigger();
    this.scheduleRelease();
  }

  subscribe(listener: (event: DnsPublisherEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): DnsPublisherStatus {
    const lease = this.closed ? undefined : this.lease.current();
    const now = this.clock.now();
    return {
      role: this.closed ? 'closed' : lease ? 'leader' : 'follower',
      instanceId: this.instanceId,
      ...(lease ? { token: lease.token } : {}),
      waitingForHealth: this.health === undefined,
      publishable: [...this.gate.upClusters(now)].sort(),
      heldDown: [...this.gate.heldDown()].map(([cluster, until]) => ({ cluster, until })),
      heldRecords: this.heldRecords,
      foreign: this.foreign,
      ...(this.lastSyncAt !== undefined ? { lastSyncAt: this.lastSyncAt } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** Runs a cycle now (after any running one) and resolves when it is done. */
  async syncNow(): Promise<void> {
    this.trigger();
    while (this.running) await this.running;
  }

  /** Stops the loop, waits for a running cycle to finish, and releases the lease for a fast takeover. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    this.abort.abort(new InfraError('DNS_NOT_LEADER', 'DNS publisher closed'));
    await this.running?.catch(() => undefined);
    await this.lease.close();
    this.unsubscribeLease?.();
  }

  /** Stops at once without releasing the lease (it runs out by TTL), as a crash would. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    this.abort.abort(new InfraError('DNS_NOT_LEADER', 'DNS publisher destroyed'));
    this.lease.destroy();
    this.unsubscribeLease?.();
  }

  private stopTimers(): void {
    clearInterval(this.ticker);
    clearTimeout(this.wake);
  }

  private onLease(lease: Lease | undefined): void {
    if (this.closed) return;
    this.fence = undefined;
    this.dirty = true;
    if (lease) {
      this.emit({ type: 'leader', token: lease.token });
      this.trigger();
    } else {
      this.emit({ type: 'follower' });
    }
  }

  private trigger(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.cycle()
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          this.trigger();
        }
      });
  }

  private signature(): string {
    return [...this.gate.upClusters(this.clock.now())].sort().join(',');
  }

  private scheduleRelease(): void {
    clearTimeout(this.wake);
    const at = this.gate.nextReleaseAt();
    if (at === undefined || this.closed) return;
    this.wake = setTimeout(() => this.trigger(), Math.max(0, at - this.clock.now()) + 1);
    this.wake.unref();
  }

  private async cycle(): Promise<void> {
    const lease = this.lease.current();
    if (!lease || !this.health || this.closed) return;
    const signal = this.abort.signal;
    if (!this.fence || this.fence.token !== lease.token) await this.takeOver(signal);
    const fence = this.fence;
    if (!fence) return;

    const now = this.clock.now();
    const up = this.gate.upClusters(now);
    const signature = [...up].sort().join(',');
    if (!this.dirty && signature === this.lastSignature && now - this.lastReadAt < this.resyncIntervalMs)
      return;

    const plan = await planDns(
      {
        provider: this.provider,
        ownerId: this.options.ownerId,
        records: this.options.records,
        up,
        previouslyOwned: this.owned,
      },
      signal,
    );
    this.lastReadAt = now;
    this.dirty = true;
    const batches = await applyDnsPlan(
      plan,
      {
        provider: this.provider,
        ownerId: this.options.ownerId,
        maxChangesPerBatch: this.options.maxChangesPerBatch ?? 100,
        assertLeader: async () => this.holder(await this.lease.assertHeld()),
      },
      signal,
    );
    if (batches > 0) {
      this.emit({ type: 'applied', token: fence.token, batches, changes: plan.units.flatMap(describeUnit) });
    }
    this.report(plan.notes);
    this.owned = plan.ownedAfter;
    const saved = await this.store.save({
      version: 1,
      token: fence.token,
      instanceId: this.instanceId,
      appliedAt: now,
      owned: plan.ownedAfter,
      records: plan.recordsAfter,
      gate: this.gate.export(),
    });
    if (!saved)
      throw new InfraError('DNS_NOT_LEADER', `${this.instanceId} lost the lease before saving its state`);
    this.lastSignature = signature;
    this.lastSyncAt = now;
    this.lastError = undefined;
    this.dirty = false;
    this.scheduleRelease();
  }

  /** First cycle as leader: adopt the previous leader's state, then claim the zone's fence. */
  private async takeOver(signal: AbortSignal): Promise<void> {
    try {
      const state = await this.store.load();
      if (state) {
        this.gate.restore(state.gate);
        this.owned = state.owned;
      }
    } catch (err) {
      // A corrupt state is reported and replaced; Redis being unreachable aborts the takeover for now.
      if (!(err instanceof InfraError)) throw err;
      this.emit({ type: 'error', error: err });
    }
    if (this.health) this.gate.observe(this.health, this.clock.now(), this.clusters);
    let holder = this.holder(await this.lease.assertHeld());
    let claim = await this.provider.claimFence(this.options.ownerId, holder, signal);
    if (!claim.claimed) {
      // The zone is ahead of Redis's counter (Redis lost data, or failed over): move past it.
      holder = this.holder((await this.lease.advancePast(claim.zoneToken)).token);
      claim = await this.provider.claimFence(this.options.ownerId, holder, signal);
      if (!claim.claimed)
        throw new InfraError('DNS_NOT_LEADER', `the zone's fence is ahead of token ${holder.token}`);
    }
    this.fence = holder;
  }

  private holder(token: number): FenceHolder {
    return { token, instanceId: this.instanceId };
  }

  private report(notes: readonly PlanNote[]): void {
    const held = notes.filter((n) => n.kind === 'held').map((n) => n.message);
    const foreign = notes.filter((n) => n.kind === 'foreign').map((n) => n.message);
    const heldKeys = notes.filter((n) => n.kind === 'held').map((n) => recordKey(n.key));
    if (heldKeys.join('|') !== this.heldRecords.join('|') && held.length > 0)
      this.emit({ type: 'held', messages: held });
    if (foreign.join('|') !== this.foreign.join('|') && foreign.length > 0)
      this.emit({ type: 'foreign', messages: foreign });
    this.heldRecords = heldKeys;
    this.foreign = foreign;
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    const error = err instanceof Error ? err : new Error(String(err));
    this.lastError = error.message;
    this.dirty = true;
    if (error instanceof InfraError && (error.code === 'DNS_CONFLICT' || error.code === 'DNS_NOT_LEADER')) {
      this.fence = undefined;
    }
    this.emit({ type: 'error', error });
  }

  private emit(event: DnsPublisherEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the publisher keeps going.
      }
    }
  }
}
