// Discovery: the composition root of the registry. It wires the writer (registration, leases,
// anti-entropy), the reader (full sync + change feed + lease poll), the stale policy, the published view
// and the disk snapshot, and owns their lifecycle. Construct without side effects; start() loads the
// disk snapshot, connects and syncs (bounded wait, retries forever in the background); close() ends
// this gateway's lease and stops everything.
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { sleep } from './backoff.js';
import { ChangeFeed, type SyncReason } from './change-feed.js';
import { ContactClock } from './contact-clock.js';
import { DiscoveryError } from './errors.js';
import { FabricCache, type BuildInputs } from './fabric-cache.js';
import { FabricModel } from './fabric-model.js';
import type { FabricSnapshot, FabricView, ServiceExport } from './fabric.js';
import { Diagnostics, errorText } from './diagnostics.js';
import { gatewayKey } from './keys.js';
import { watchLeases } from './lease-watch.js';
import { LocalExports } from './local-exports.js';
import { DiscoveryMetrics } from './metrics.js';
import { validateOptions, validateServices, type DiscoveryOptions } from './options.js';
import { encodeCluster, encodeGateway } from './records.js';
import {
  createRedisClient,
  describeRedis,
  duplicateForBlocking,
  logOutages,
  type RedisClient,
} from './redis-client.js';
import type { ReaderContext } from './registry-reader.js';
import { Registration } from './registration.js';
import { ServerClock } from './server-clock.js';
import { restoreModel, serializeModel, SnapshotStore } from './snapshot-store.js';
import { evaluate, type Evaluation } from './stale-policy.js';
import { summarizeClusters, type DiscoveryMode, type DiscoveryStatus } from './status.js';

const FEED_BLOCK_MS = 2000;
const FEED_BATCH = 500;
const FEED_MAX_LEN = 10_000;
const SNAPSHOT_REFRESH_MS = 30_000;
const DEREGISTER_TIMEOUT_MS = 1000;

export class Discovery {
  readonly view: FabricView;

  private readonly options: DiscoveryOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly metrics: DiscoveryMetrics;
  private readonly model = new FabricModel();
  private readonly clock: ServerClock;
  private readonly contact: ContactClock;
  private readonly cache: FabricCache;
  private readonly store: SnapshotStore;
  private readonly controller = new AbortController();
  /** Stops the lease's renewal alone (leave), before close stops everything. */
  private readonly registrationStop = new AbortController();
  private readonly ownGk: string;
  private readonly local: LocalExports;
  private evaluation: Evaluation = { clusters: new Map(), evict: [], nextTransitionAt: undefined };

  private client: RedisClient | undefined;
  private feedClient: RedisClient | undefined;
  private feed: ChangeFeed | undefined;
  private registration: Registration | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private leaving: Promise<void> | undefined;
  private releaseStart: (() => void) | undefined;
  private transitionTimer: NodeJS.Timeout | undefined;

  private mode: DiscoveryMode = 'idle';
  private source: FabricSnapshot['source'] = 'empty';
  private everSynced = false;
  private lastSyncAt: number | null = null;
  private fullSyncCount = 0;
  private feedLagMs: number | null = null;
  private diskSyncedAt: number | null = null;
  private loadedAt: number | null = null;
  private persistedRevision = -1;
  private persistedAt = 0;
  private readonly diagnostics: Diagnostics;
  private readonly ctx: ReaderContext;

  constructor(options: DiscoveryOptions) {
    validateOptions(options);
    this.options = options;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.now = options.now ?? Date.now;
    this.clock = new ServerClock(this.now);
    this.contact = new ContactClock(this.now, 2 * options.heartbeatIntervalMs);
    this.local = new LocalExports(options, this.now());
    this.ownGk = this.local.own.gk;
    this.cache = new FabricCache(() => this.buildInputs(), this.logger);
    this.view = this.cache;
    this.store = new SnapshotStore(
      options.snapshotFile,
      options.snapshotWriteDelayMs ?? 5000,
      this.logger,
      () => this.metrics.snapshotWriteErrors.inc(),
    );
    this.metrics = new DiscoveryMetrics(options.metrics ?? new Registry(), () => this.status());
    this.diagnostics = new Diagnostics(this.metrics, this.logger, this.now);
    this.ctx = {
      model: this.model,
      ownGk: this.ownGk,
      clock: this.clock,
      skip: (key, reason, detail) => this.diagnostics.skip(key, reason, detail),
    };
    this.cache.refresh();
  }

  /** True once a full sync from Redis has succeeded (for /readyz). */
  get synced(): boolean {
    return this.everSynced;
  }

  /**
   * Loads the disk snapshot, connects and runs the first full sync. Resolves when that sync is done, or
   * when the disk snapshot is loaded and Redis refused, or after startTimeoutMs; keeps retrying in the
   * background. Rejects only on unusable options (unreadable TLS files), when called after close(), or
   * when `signal` aborts (which also closes this Discovery); close() during start() resolves it.
   */
  start(signal?: AbortSignal): Promise<void> {
    this.starting ??= this.startOnce(signal);
    return this.starting;
  }

  private async startOnce(signal: AbortSignal | undefined): Promise<void> {
    if (this.closing) throw new DiscoveryError('CLOSED', 'discovery is closed');
    signal?.throwIfAborted();
    this.mode = 'starting';
    const onAbort = () => void this.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    const gate = new Promise<void>((resolve) => (this.releaseStart = resolve));
    const timeout = new AbortController();
    try {
      await this.loadDiskSnapshot();
      if (!this.controller.signal.aborted) {
        this.connect();
        await Promise.race([gate, sleep(this.options.startTimeoutMs ?? 5000, timeout.signal)]);
      }
      if (signal?.aborted) throw signal.reason;
      if (this.controller.signal.aborted) return;
      if (!this.everSynced) {
        this.mode = 'disconnected';
        this.logger.warn(
          {
            source: this.source,
            redis: describeRedis(this.options.redis),
            lastError: this.diagnostics.lastError,
          },
          'discovery: started without a Redis sync; routing on the last snapshot and retrying',
        );
      }
    } finally {
      timeout.abort();
      signal?.removeEventListener('abort', onAbort);
      this.releaseStart = undefined;
    }
  }

  private async loadDiskSnapshot(): Promise<void> {
    const text = await this.store.read();
    if (text === undefined) return;
    const at = this.now();
    const loaded = restoreModel(text, this.model, at, this.ctx.skip);
    if (!loaded) return;
    this.contact.freezeAt(at);
    this.source = 'disk';
    this.loadedAt = at;
    this.diskSyncedAt = loaded.syncedAt;
    this.persistedRevision = this.model.revision;
    this.logger.info(
      { path: this.options.snapshotFile, clusters: this.model.clusters.size, savedAt: loaded.savedAt },
      'discovery: loaded the disk snapshot',
    );
    this.reevaluate();
  }

  private connect(): void {
    const signal = this.controller.signal;
    const commandTimeoutMs = this.options.commandTimeoutMs ?? 2000;
    const client = createRedisClient(this.options.redis, {
      commandTimeoutMs,
      connectTimeoutMs: commandTimeoutMs,
      maxReconnectDelayMs: 1000,
    });
    const feedClient = duplicateForBlocking(client, FEED_BLOCK_MS + commandTimeoutMs);
    this.client = client;
    this.feedClient = feedClient;
    const feed = new ChangeFeed(
      feedClient,
      this.ctx,
      {
        onSynced: (reason, leaseless) => this.onSynced(reason, leaseless),
        onApplied: (lagMs) => {
          this.feedLagMs = lagMs;
          this.reevaluate();
        },
        onContact: () => this.contact.contact(),
        onError: (err) => this.onReadError('feed', err),
      },
      { blockMs: FEED_BLOCK_MS, batchSize: FEED_BATCH, readyWaitMs: commandTimeoutMs, logger: this.logger },
    );
    const registration = new Registration({
      client,
      cluster: this.options.cluster,
      gk: this.ownGk,
      clusterJson: encodeCluster(this.local.own.cluster),
      gatewayJson: encodeGateway(this.local.own.record),
      leaseTtlMs: this.options.leaseTtlMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      resyncIntervalMs: this.options.resyncIntervalMs,
      feedMaxLen: FEED_MAX_LEN,
      readyWaitMs: commandTimeoutMs,
      logger: this.logger,
      now: this.now,
      onLease: (leaseEnd) => this.local.leased(leaseEnd),
      onError: (op, err) => this.onRedisError(op, err),
    });
    this.feed = feed;
    this.registration = registration;
    registration.setServices(this.local.desired);
    logOutages(this.logger, 'discovery', client, feedClient);
    const onError = (err: Error) => {
      this.diagnostics.connectionError(err);
      if (this.source === 'disk' && !this.everSynced) this.releaseStart?.();
    };
    client.on('error', onError);
    feedClient.on('error', onError);
    client.on('ready', () => registration.reconnected());
    feedClient.on('ready', () => feed.wake());
    registration.start(AbortSignal.any([signal, this.registrationStop.signal]));
    void feed.run(signal);
    void watchLeases(
      client,
      {
        intervalMs: this.options.heartbeatIntervalMs,
        staleForMs: this.options.staleForMs,
        ctx: this.ctx,
        active: () => this.contact.isConnected,
        onPolled: (poll) => {
          this.contact.contact();
          feed.enqueue(poll.unknown.filter((gk) => !this.diagnostics.badGateways.has(gk)));
          this.reap(poll.expired);
          this.reevaluate();
        },
        onError: (err) => {
          this.onReadError('leases', err);
          feed.requestResync();
        },
      },
      signal,
    );
  }

  private onSynced(reason: SyncReason, leaseless: readonly string[]): void {
    const first = !this.everSynced;
    this.everSynced = true;
    this.source = 'redis';
    this.lastSyncAt = this.now();
    this.fullSyncCount++;
    this.metrics.fullSyncs.inc({ reason });
    this.contact.setConnected(true);
    this.mode = 'live';
    this.diagnostics.badGateways.clear();
    this.logger[first ? 'info' : 'debug'](
      { reason, clusters: this.model.clusters.size, gateways: this.model.gateways.size },
      'discovery: full sync done',
    );
    this.reap(leaseless);
    this.reevaluate();
    this.releaseStart?.();
  }

  private onReadError(op: string, err: unknown): void {
    this.onRedisError(op, err);
    if (this.controller.signal.aborted) return;
    if (this.contact.isConnected || this.mode === 'starting') {
      this.logger.warn({ op, err: errorText(err) }, 'discovery: lost Redis; routing on the last snapshot');
    }
    this.contact.setConnected(false);
    if (this.mode !== 'starting') this.mode = 'disconnected';
    this.reevaluate();
  }

  private onRedisError(op: string, err: unknown): void {
    if (!this.controller.signal.aborted) this.diagnostics.redisError(op, err);
  }

  private reap(gks: readonly string[]): void {
    const registration = this.registration;
    if (!registration || gks.length === 0) return;
    registration.reap(gks, this.options.staleForMs).then(
      (reaped) => {
        if (reaped > 0)
          this.logger.info({ reaped, candidates: gks }, 'discovery: reaped expired gateway records');
      },
      (err: unknown) => this.onRedisError('reap', err),
    );
  }

  /** Re-judges leases, evicts, republishes the view if anything visible changed, persists. */
  private reevaluate(): void {
    const previous = this.evaluation;
    const evaluation = evaluate(this.model, this.contact.evalNow(), this.options.staleForMs);
    for (const gk of evaluation.evict) this.model.removeGateway(gk);
    for (const [name, state] of previous.clusters) {
      if (state.freshness === 'stale' && !evaluation.clusters.has(name) && name !== this.options.cluster) {
        this.diagnostics.evicted(name);
      }
    }
    this.evaluation = evaluation;
    this.cache.refresh();
    this.scheduleTransition(evaluation.nextTransitionAt);
    this.persist();
  }

  private scheduleTransition(at: number | undefined): void {
    if (this.transitionTimer) clearTimeout(this.transitionTimer);
    this.transitionTimer = undefined;
    if (at === undefined || this.controller.signal.aborted || !this.contact.isConnected) return;
    this.transitionTimer = setTimeout(() => this.reevaluate(), Math.max(0, at - this.now()) + 5);
    this.transitionTimer.unref();
  }

  private persist(): void {
    if (!this.starting || this.controller.signal.aborted) return;
    const now = this.now();
    if (this.model.revision === this.persistedRevision && now - this.persistedAt < SNAPSHOT_REFRESH_MS)
      return;
    if (this.source === 'empty') return;
    this.persistedRevision = this.model.revision;
    this.persistedAt = now;
    this.store.schedule(() => this.serialize());
  }

  private serialize(): string {
    const at = this.contact.lastContact ?? this.loadedAt ?? this.now();
    const syncedAt = this.contact.lastContact ?? this.diskSyncedAt;
    return serializeModel(this.model, this.now(), syncedAt, at);
  }

  private buildInputs(): BuildInputs {
    return {
      model: this.model,
      evaluation: this.evaluation,
      own: this.local.own,
      source: this.source,
      connected: this.contact.isConnected,
      syncedAt: this.contact.lastContact ?? this.diskSyncedAt,
    };
  }

  /** Replaces this gateway's exported services. Coalesced and idempotent; throws RECORD_INVALID. */
  setLocalServices(services: readonly ServiceExport[]): void {
    if (this.closing) throw new DiscoveryError('CLOSED', 'discovery is closed');
    validateServices(services, (service) => this.local.accepted(service));
    if (!this.local.set(services)) return;
    this.registration?.setServices(this.local.desired);
    this.cache.refresh();
  }

  /**
   * The live lease end of a gateway (a LeaseLookup): renewed by every lease poll and heartbeat, which
   * do not republish the snapshot. Undefined when the gateway is unknown or not registered yet.
   */
  leaseOf(cluster: string, id: string): number | undefined {
    const gk = gatewayKey(cluster, id);
    if (gk === this.ownGk) {
      const own = this.local.own.leaseExpiresAt;
      return own > 0 ? own : undefined;
    }
    return this.model.gateways.get(gk)?.leaseScore;
  }

  status(): DiscoveryStatus {
    const snapshot = this.cache.snapshot();
    const { live, stale, services } = summarizeClusters(snapshot, this.options.staleForMs);
    const now = this.now();
    const lastContact = this.contact.lastContact;
    const reference = lastContact ?? this.diskSyncedAt;
    const position = this.feed?.lastPosition;
    return {
      mode: this.mode,
      connected: this.contact.isConnected,
      synced: this.everSynced,
      redis: describeRedis(this.options.redis),
      source: this.source,
      revision: snapshot.revision,
      snapshotAgeMs: reference === null || reference === undefined ? null : Math.max(0, now - reference),
      lastContactAt: lastContact ?? null,
      lastSyncAt: this.lastSyncAt,
      fullSyncs: this.fullSyncCount,
      clockSkewMs: Math.round(this.clock.skewMs),
      feed: { lastId: position?.id ?? null, lastSeq: position?.seq ?? null, lagMs: this.feedLagMs },
      lease: {
        ttlMs: this.options.leaseTtlMs,
        expiresAt: this.local.own.leaseExpiresAt === 0 ? null : this.local.own.leaseExpiresAt,
        lastHeartbeatAt: this.registration?.heartbeatAt ?? null,
      },
      clusters: { live, stale, evicted: this.diagnostics.recentEvictions },
      services,
      skippedRecords: this.diagnostics.skipped,
      pendingWrites: this.registration?.pendingWrites ?? this.local.desired.size + 1,
      lastError: this.diagnostics.lastError,
      snapshotFile: {
        path: this.options.snapshotFile,
        loadedAt: this.loadedAt,
        lastWriteAt: this.store.lastWriteAt ?? null,
        lastError: this.store.lastError ?? null,
      },
    };
  }

  /**
   * Leaves the fabric ahead of close() (a drain begins): ends this gateway's lease now (best effort,
   * bounded) and stops renewing it, so peers and the DNS publisher stop choosing it; its records stay,
   * stale, as for any ended lease, and its view keeps following the fabric. Idempotent.
   */
  leave(): Promise<void> {
    this.leaving ??= this.leaveOnce();
    return this.leaving;
  }

  private async leaveOnce(): Promise<void> {
    this.registrationStop.abort();
    const client = this.client;
    if (this.registration && client?.status === 'ready') {
      const ended = await this.registration.deregister(DEREGISTER_TIMEOUT_MS);
      if (ended) this.local.leased(this.clock.serverNow());
      this.logger.info({ gk: this.ownGk, ended }, 'discovery: deregistered');
    }
  }

  /** Ends this gateway's lease (leave), stops every loop and connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.controller.abort();
    this.releaseStart?.();
    if (this.transitionTimer) clearTimeout(this.transitionTimer);
    this.transitionTimer = undefined;
    await this.leave();
    const client = this.client;
    this.mode = 'closed';
    client?.disconnect();
    this.feedClient?.disconnect();
    if (this.starting && this.source !== 'empty') {
      this.store.schedule(() => this.serialize());
      await this.store.flush();
    }
  }
}
