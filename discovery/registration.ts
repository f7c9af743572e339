// This gateway's own records in Redis: registration, lease heartbeats, service writes and anti-entropy.
// Local registrations are authoritative. The writer keeps only the latest desired state and what it
// believes Redis holds; a write that fails marks the belief unknown, and the next attempt reads what
// Redis really holds and writes the difference. So writes during an outage coalesce (bounded by the
// size of the local service set), and a Redis flush, failover or restart heals itself.
import type { Logger } from 'pino';
import { Backoff, sleep } from './backoff.js';
import { keys } from './keys.js';
import { scripts } from './lua-scripts.js';
import { whenReady, type RedisClient } from './redis-client.js';

export interface RegistrationOptions {
  readonly client: RedisClient;
  readonly cluster: string;
  readonly gk: string;
  readonly clusterJson: string;
  readonly gatewayJson: string;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly resyncIntervalMs: number;
  readonly feedMaxLen: number;
  /** How long to wait for a (re)connection before trying anyway. */
  readonly readyWaitMs: number;
  readonly logger: Logger;
  readonly now: () => number;
  /** A heartbeat or registration stamped a lease ending at `leaseEnd` (server clock). */
  readonly onLease: (leaseEnd: number) => void;
  readonly onError: (op: string, err: unknown) => void;
}

interface Diff {
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly del: readonly string[];
}

function diff(desired: ReadonlyMap<string, string>, actual: ReadonlyMap<string, string>): Diff {
  const set: Array<[string, string]> = [];
  const del: string[] = [];
  for (const [key, value] of desired) if (actual.get(key) !== value) set.push([key, value]);
  for (const key of actual.keys()) if (!desired.has(key)) del.push(key);
  return { set, del };
}

function diffArgs({ set, del }: Diff): string[] {
  return [String(set.length), ...set.flat(), String(del.length), ...del];
}

export class Registration {
  private desired = new Map<string, string>();
  /** What Redis holds as far as we know; undefined when unknown (read it before writing). */
  private written: Map<string, string> | undefined;
  private registered = false;
  private flushing: Promise<void> | undefined;
  private dirty = false;
  private readonly backoff = new Backoff(100, 2000);
  private leaseEnd = 0;
  private lastHeartbeatAt: number | undefined;
  private signal: AbortSignal | undefined;

  constructor(private readonly options: RegistrationOptions) {}

  /** Replaces the desired service set (service key → encoded record) and writes it soon. */
  setServices(services: ReadonlyMap<string, string>): void {
    this.desired = new Map(services);
    this.schedule();
  }

  /** Starts the heartbeat and anti-entropy loops and the first registration. */
  start(signal: AbortSignal): void {
    this.signal = signal;
    this.schedule();
    void this.loop(signal, this.options.heartbeatIntervalMs, () => this.heartbeat());
    void this.loop(signal, this.options.resyncIntervalMs, () => {
      this.written = undefined;
      this.schedule();
      return Promise.resolve();
    });
  }

  /** The connection is ready again: check everything now instead of at the next tick. */
  reconnected(): void {
    this.written = undefined;
    this.backoff.wake();
    this.schedule();
  }

  get leaseExpiresAt(): number {
    return this.leaseEnd;
  }

  get heartbeatAt(): number | undefined {
    return this.lastHeartbeatAt;
  }

  /** Records and lease not yet known to be in Redis (0 when in sync). Bounded by the local set. */
  get pendingWrites(): number {
    const { set, del } = diff(this.desired, this.written ?? new Map());
    return set.length + del.length + (this.registered ? 0 : 1);
  }

  /** Ends this gateway's lease now (best effort, bounded by timeoutMs). */
  async deregister(timeoutMs: number): Promise<boolean> {
    const attempt = scripts.deregister
      .run(
        this.options.client,
        [keys.gateways, keys.leases, keys.seq, keys.feed],
        [this.options.gk, this.options.feedMaxLen],
      )
      .then(
        (result) => Number(result) === 1,
        () => false,
      );
    const controller = new AbortController();
    const timeout = sleep(timeoutMs, controller.signal).then(() => false);
    const done = await Promise.race([attempt, timeout]);
    controller.abort();
    return done;
  }

  /** Removes gateways whose lease ended more than staleFor ago (the script re-checks on the server). */
  async reap(gks: readonly string[], staleForMs: number): Promise<number> {
    if (gks.length === 0) return 0;
    const reaped = await scripts.reap.run(
      this.options.client,
      [keys.clusters, keys.gateways, keys.leases, keys.seq, keys.feed, ...gks.map((gk) => keys.services(gk))],
      [staleForMs, this.options.feedMaxLen, ...gks],
    );
    return Number(reaped);
  }

  private async loop(signal: AbortSignal, intervalMs: number, tick: () => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      await sleep(intervalMs, signal);
      if (signal.aborted) return;
      await tick();
    }
  }

  private async heartbeat(): Promise<void> {
    if (!this.registered) {
      this.schedule();
      return;
    }
    const { client, gk, leaseTtlMs } = this.options;
    try {
      const [, leaseEnd] = (await scripts.heartbeat.run(
        client,
        [keys.gateways, keys.leases],
        [gk, leaseTtlMs],
      )) as [number, number];
      if (Number(leaseEnd) === 0) {
        this.options.logger.warn(
          { gk },
          'discovery: own gateway record missing from Redis; registering again',
        );
        this.registered = false;
        this.written = undefined;
        this.schedule();
        return;
      }
      this.leaseEnd = Number(leaseEnd);
      this.lastHeartbeatAt = this.options.now();
      this.options.onLease(this.leaseEnd);
    } catch (err) {
      this.options.onError('heartbeat', err);
    }
  }

  private schedule(): void {
    const signal = this.signal;
    if (!signal || signal.aborted) return;
    if (this.flushing) {
      this.dirty = true;
      return;
    }
    this.flushing = this.flush(signal).finally(() => {
      this.flushing = undefined;
    });
  }

  private async flush(signal: AbortSignal): Promise<void> {
    do {
      this.dirty = false;
      await whenReady(this.options.client, this.options.readyWaitMs, signal);
      if (signal.aborted) return;
      try {
        if (!this.registered || this.written === undefined) await this.reconcile();
        else await this.writeDiff();
        this.backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        this.written = undefined;
        this.options.onError('write', err);
        this.dirty = true;
        await this.backoff.wait(signal);
      }
    } while (this.dirty && !signal.aborted);
  }

  /** Reads this gateway's records as Redis holds them and writes whatever differs from the desired state. */
  private async reconcile(): Promise<void> {
    const { client, gk, cluster, clusterJson, gatewayJson } = this.options;
    const target = new Map(this.desired);
    const results = await client
      .pipeline()
      .hget(keys.gateways, gk)
      .hget(keys.clusters, cluster)
      .zscore(keys.leases, gk)
      .hgetall(keys.services(gk))
      .exec();
    if (!results) throw new Error('pipeline aborted');
    // Left the fabric meanwhile (the lease was ended after this read went out): writing now would register again.
    if (this.signal?.aborted) return;
    for (const [err] of results) if (err) throw err;
    const [gatewayRaw, clusterRaw, scoreRaw, servicesRaw] = results.map(([, value]) => value);
    const actual = new Map(Object.entries((servicesRaw ?? {}) as Record<string, string>));
    const change = diff(target, actual);
    const needsRegister =
      !this.registered || gatewayRaw !== gatewayJson || clusterRaw !== clusterJson || scoreRaw === null;
    if (needsRegister) {
      if (this.registered)
        this.options.logger.info({ gk }, 'discovery: own records differ from Redis; rewriting');
      const [, leaseEnd] = (await scripts.register.run(
        client,
        [keys.clusters, keys.gateways, keys.leases, keys.services(gk), keys.seq, keys.feed],
        [
          cluster,
          gk,
          clusterJson,
          gatewayJson,
          this.options.leaseTtlMs,
          this.options.feedMaxLen,
          ...diffArgs(change),
        ],
      )) as [number, number];
      this.registered = true;
      this.leaseEnd = Number(leaseEnd);
      this.lastHeartbeatAt = this.options.now();
      this.options.onLease(this.leaseEnd);
    } else if (change.set.length + change.del.length > 0) {
      this.options.logger.info(
        { gk, missing: change.set.length, extra: change.del.length },
        'discovery: anti-entropy repairing own services',
      );
      if (!(await this.writeServices(change))) return this.reconcile();
    }
    this.written = target;
  }

  private async writeDiff(): Promise<void> {
    const target = new Map(this.desired);
    const change = diff(target, this.written ?? new Map());
    if (change.set.length + change.del.length === 0) return;
    if (!(await this.writeServices(change))) return this.reconcile();
    this.written = target;
  }

  /** Applies a service diff; false when the gateway record is gone (the caller registers again). */
  private async writeServices(change: Diff): Promise<boolean> {
    const { client, gk } = this.options;
    const result = await scripts.services.run(
      client,
      [keys.gateways, keys.services(gk), keys.seq, keys.feed],
      [gk, this.options.feedMaxLen, ...diffArgs(change)],
    );
    if (Number(result) === 1) return true;
    this.options.logger.warn({ gk }, 'discovery: own gateway record missing from Redis; registering again');
    this.registered = false;
    return false;
  }
}
