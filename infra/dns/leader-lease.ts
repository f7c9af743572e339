// Leader election for the DNS publisher: a Redis lease with a fencing token. The lease key holds
// `<instance> <token>` with a TTL; a new holder gets its token from INCR on a counter, so tokens only grow.
// The holder renews every ttl/3 and stops calling itself leader once its lease may have run out locally,
// renewed or not. Writers check the lease in Redis (assertHeld) right before each write, and the token
// also goes into the zone's fence record, so two leaders never both write.
import { performance } from 'node:perf_hooks';
import type { Cluster, Redis } from 'ioredis';
import { InfraError } from '../errors.js';

export interface LeaderLeaseOptions {
  readonly redis: Redis | Cluster;
  /** Names the election: the publisher's owner id. */
  readonly ownerId: string;
  /** Unique per process, e.g. `<cluster>/<host>/<pid>`. */
  readonly instanceId: string;
  /** Default 10000. */
  readonly ttlMs?: number;
  /** Renew/acquire attempt period; default ttlMs / 3. */
  readonly renewEveryMs?: number;
  /** Monotonic milliseconds; default performance.now. */
  readonly monotonicNow?: () => number;
}

export interface Lease {
  readonly token: number;
  /** Monotonic ms after which this process no longer assumes it leads. */
  readonly validUntil: number;
}

export type LeaseListener = (lease: Lease | undefined) => void;

/** All keys share the `{v1}` hash tag, so the scripts run on one Redis Cluster slot. */
export function dnsKeys(ownerId: string) {
  const prefix = `weft:{v1}:dns:${ownerId}`;
  return { leader: `${prefix}:leader`, counter: `${prefix}:fence`, state: `${prefix}:state` } as const;
}

const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local id, tok = string.match(cur, '^(.*) (%d+)$')
  if id == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(tok)
  end
  return 0
end
local tok = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. tok, 'PX', ARGV[2])
return tok`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

const CHECK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

const ADVANCE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local floor = tonumber(ARGV[3])
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur < floor then redis.call('SET', KEYS[2], floor) end
local tok = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[4] .. ' ' .. tok, 'PX', ARGV[2])
return tok`;

export class LeaderLease {
  readonly instanceId: string;
  private readonly redis: Redis | Cluster;
  private readonly keys: ReturnType<typeof dnsKeys>;
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private readonly monotonicNow: () => number;
  private readonly listeners = new Set<LeaseListener>();
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private stepping: Promise<void> | undefined;
  private closed = false;

  constructor(options: LeaderLeaseOptions) {
    if (/\s/.test(options.instanceId) || options.instanceId === '') {
      throw new InfraError(
        'DNS_INVALID',
        `instance id "${options.instanceId}" must be non-empty without spaces`,
      );
    }
    this.redis = options.redis;
    this.instanceId = options.instanceId;
    this.keys = dnsKeys(options.ownerId);
    this.ttlMs = options.ttlMs ?? 10_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.max(50, Math.floor(this.ttlMs / 3));
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
  }

  /** Campaigns in the background: acquires when free, renews while held. Idempotent. */
  start(): void {
    if (this.timer || this.closed) return;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.step().finally(() => {
          if (!this.closed) tick();
        });
      }, this.renewEveryMs);
      this.timer.unref();
    };
    void this.step().finally(() => {
      if (!this.closed) tick();
    });
  }

  /** Calls `listener` on every change of leadership (a lease, or undefined when lost). */
  subscribe(listener: LeaseListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The lease while this process may act as leader; undefined otherwise. No I/O. */
  current(): Lease | undefined {
    if (this.lease && this.monotonicNow() >= this.lease.validUntil) this.lose();
    return this.lease;
  }

  /** One acquire-or-renew attempt now; resolves to the lease or undefined. Never throws. */
  step(): Promise<void> {
    this.stepping ??= this.attempt().finally(() => {
      this.stepping = undefined;
    });
    return this.stepping;
  }

  /**
   * Confirms in Redis that this process still holds the lease with its token, immediately before a write.
   * Throws InfraError DNS_NOT_LEADER otherwise (and drops the lease).
   */
  async assertHeld(): Promise<number> {
    const lease = this.current();
    if (!lease)
      throw new InfraError('DNS_NOT_LEADER', `${this.instanceId} does not hold the DNS publisher lease`);
    let held: unknown;
    try {
      held = await this.redis.eval(CHECK, 1, this.keys.leader, this.value(lease.token));
    } catch (err) {
      throw new InfraError(
        'DNS_NOT_LEADER',
        `cannot confirm the DNS publisher lease in Redis: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (held !== 1) {
      this.lose();
      throw new InfraError(
        'DNS_NOT_LEADER',
        `${this.instanceId} lost the DNS publisher lease (token ${lease.token})`,
      );
    }
    return lease.token;
  }

  /**
   * Moves the token counter past `floor` (a token found in the zone's fence, e.g. after Redis lost its
   * data) and takes a new token above it, keeping the lease. Throws DNS_NOT_LEADER when not holding it.
   */
  async advancePast(floor: number): Promise<Lease> {
    const lease = this.current();
    if (!lease)
      throw new InfraError('DNS_NOT_LEADER', `${this.instanceId} does not hold the DNS publisher lease`);
    const sentAt = this.monotonicNow();
    const token = Number(
      await this.redis.eval(
        ADVANCE,
        2,
        this.keys.leader,
        this.keys.counter,
        this.value(lease.token),
        this.ttlMs,
        floor,
        this.instanceId,
      ),
    );
    if (!token) {
      this.lose();
      throw new InfraError('DNS_NOT_LEADER', `${this.instanceId} lost the DNS publisher lease`);
    }
    this.hold(token, sentAt);
    return this.lease ?? { token, validUntil: sentAt };
  }

  /** Stops campaigning and gives the lease up so another publisher takes over at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stop();
    await this.stepping?.catch(() => undefined);
    const lease = this.lease;
    this.lose();
    if (lease) {
      await Promise.resolve(this.redis.eval(RELEASE, 1, this.keys.leader, this.value(lease.token))).catch(
        () => undefined,
      );
    }
  }

  /** Stops at once without releasing (the lease runs out by TTL), as a crash would. */
  destroy(): void {
    this.stop();
    this.lease = undefined;
  }

  private stop(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiry);
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    const sentAt = this.monotonicNow();
    try {
      const lease = this.current();
      if (lease) {
        const renewed = await this.redis.eval(
          RENEW,
          1,
          this.keys.leader,
          this.value(lease.token),
          this.ttlMs,
        );
        if (this.closed) return;
        if (renewed === 1) this.hold(lease.token, sentAt);
        else this.lose();
        return;
      }
      const token = Number(
        await this.redis.eval(ACQUIRE, 2, this.keys.leader, this.keys.counter, this.instanceId, this.ttlMs),
      );
      if (this.closed) return;
      if (token > 0) this.hold(token, sentAt);
    } catch {
      // Redis unreachable: keep the lease until it may have expired (current() checks), then stand down.
    }
  }

  private hold(token: number, sentAt: number): void {
    const previous = this.lease;
    // Measured from when the request left: the server's TTL started no earlier than that.
    this.lease = { token, validUntil: sentAt + this.ttlMs * 0.9 };
    clearTimeout(this.expiry);
    this.expiry = setTimeout(
      () => this.current(),
      Math.max(0, this.lease.validUntil - this.monotonicNow()) + 1,
    );
    this.expiry.unref();
    if (previous?.token !== token) this.emit();
  }

  private lose(): void {
    if (!this.lease) return;
    this.lease = undefined;
    clearTimeout(this.expiry);
    this.emit();
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.lease);
  }

  private value(token: number): string {
    return `${this.instanceId} ${token}`;
  }
}
