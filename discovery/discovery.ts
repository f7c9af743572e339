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
import { FabricCache, type BuildInputs, type OwnGateway } from './fabric-cache.js';
import { FabricModel } from './fabric-model.js';
import type { FabricSnapshot, FabricView, ServiceExport } from './fabric.js';
import { gatewayKey, keys } from './keys.js';
import { DiscoveryMetrics } from './metrics.js';
import { validateOptions, validateServices, type DiscoveryOptions } from './options.js';
import { encodeCluster, encodeGateway, encodeService, serviceRecordOf } from './records.js';
import type { SkipReason } from './records.js';
import { createRedisClient, describeRedis, duplicateForBlocking, type RedisClient } from './redis-client.js';
import { pollLeases, type ReaderContext } from './registry-reader.js';
import { Registration } from './registration.js';
import { ServerClock } from './server-clock.js';
import { restoreModel, serializeModel, SnapshotStore } from './snapshot-store.js';
import { evaluate, type Evaluation } from './stale-policy.js';
import type { DiscoveryMode, DiscoveryStatus, SkippedRecord } from './status.js';

const FEED_BLOCK_MS = 2000;
const FEED_BATCH = 500;
const FEED_MAX_LEN = 10_000;
const RECENT = 20;
const SNAPSHOT_REFRESH_MS = 30_000;
const DEREGISTER_TIMEOUT_MS = 1000;
/** ioredis's message for a command sent while disconnected (offline queue disabled). */
const NOT_CONNECTED = "Stream isn't writeable";

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
  private readonly ownGk: string;
  private own: OwnGateway;
  private desired = new Map<string, string>();
  private evaluation: Evaluation = { clusters: new Map(), evict: [], nextTransitionAt: undefined };

  private client: RedisClient | undefined;
  private feedClient: RedisClient | undefined;
  private feed: ChangeFeed | undefined;
  private registration: Registration | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private releaseStart: (() => void) | undefined;
  private transitionTimer: NodeJS.Timeout | undefined;

  private mode: DiscoveryMode = 'idle';
  private source: FabricSnapshot['source'] = 'empty';
  private everSynced = false;
  private lastSyncAt: number | null = null;
  private fullSyncCount = 0;
  private feedLagMs: number | null = null;
  private lastError: string | null = null;
  private diskSyncedAt: number | null = null;
  private loadedAt: number | null = null;
  private persistedRevision = -1;
  private persistedAt = 0;
  private readonly skipCounts: Partial<Record<SkipReason, number>> = {};
  private readonly recentSkips: SkippedRecord[] = [];
  private readonly evictions: { name: string; at: number }[] = [];
  private readonly badGateways = new Set<string>();

  constructor(options: DiscoveryOptions) {
    validateOptions(options);
    this.options = options;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.now = options.now ?? Date.now;
    this.clock = new ServerClock(this.now);
    this.contact = new ContactClock(this.now, 2 * options.heartbeatIntervalMs);
    this.ownGk = gatewayKey(options.cluster, options.gatewayId);
    this.own = {
      gk: this.ownGk,
      cluster: { name: options.cluster, locality: options.locality },
      record: {
        cluster: options.cluster,
        id: options.gatewayId,
        peerAddress: options.peerAddress,
        startedAt: this.now(),
        version: options.version,
      },
      services: new Map(),
      leaseExpiresAt: 0,
      version: 0,
    };
    this.cache = new FabricCache(() => this.buildInputs(), this.logger);
    this.view = this.cache;
    this.store = new SnapshotStore(
      options.snapshotFile,
      options.snapshotWriteDelayMs ?? 5000,
      this.logger,
      () => this.metrics.snapshotWriteErrors.inc(),
    );
    this.metrics = new DiscoveryMetrics(options.metrics ?? new Registry(), () => this.status());
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
          { source: this.source, redis: describeRedis(this.options.redis), lastError: this.lastError },
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
    const loaded = restoreModel(text, this.model, at, (key, reason, detail) =>
      this.skip(key, reason, detail),
    );
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
    const ctx: ReaderContext = {
      model: this.model,
      ownGk: this.ownGk,
      clock: this.clock,
      skip: (key, reason, detail) => this.skip(key, reason, detail),
    };
    const feed = new ChangeFeed(
      feedClient,
      ctx,
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
      clusterJson: encodeCluster(this.own.cluster),
      gatewayJson: encodeGateway(this.own.record),
      leaseTtlMs: this.options.leaseTtlMs,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      resyncIntervalMs: this.options.resyncIntervalMs,
      feedMaxLen: FEED_MAX_LEN,
      readyWaitMs: commandTimeoutMs,
      logger: this.logger,
      now: this.now,
      onLease: (leaseEnd) => {
        this.own = { ...this.own, leaseExpiresAt: leaseEnd };
      },
      onError: (op, err) => this.onRedisError(op, err),
    });
    this.feed = feed;
    this.registration = registration;
    registration.setServices(this.desired);
    let errorLogged = false;
    const onError = (err: Error) => {
      this.lastError = `connection: ${err.message}`;
      if (!errorLogged) this.logger.warn({ err: err.message }, 'discovery: Redis connection error; retrying');
      errorLogged = true;
      if (this.source === 'disk' && !this.everSynced) this.releaseStart?.();
    };
    client.on('error', onError);
    feedClient.on('error', onError);
    client.on('ready', () => {
      if (errorLogged) this.logger.info('discovery: Redis connection ready');
      errorLogged = false;
      registration.reconnected();
    });
    feedClient.on('ready', () => feed.wake());
    registration.start(signal);
    void feed.run(signal);
    void this.watchLeases(signal);
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
    this.badGateways.clear();
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
    if (this.controller.signal.aborted) return;
    this.metrics.redisErrors.inc({ op });
    // "Not connected" says nothing new: the connection's own error (kept in lastError) says why.
    if (!errorText(err).includes(NOT_CONNECTED)) this.lastError = `${op}: ${errorText(err)}`;
    this.logger.debug({ op, err: errorText(err) }, 'discovery: Redis operation failed');
  }

  private async watchLeases(signal: AbortSignal): Promise<void> {
    const ctx: ReaderContext = {
      model: this.model,
      ownGk: this.ownGk,
      clock: this.clock,
      skip: (key, reason, detail) => this.skip(key, reason, detail),
    };
    while (!signal.aborted) {
      await sleep(this.options.heartbeatIntervalMs, signal);
      const client = this.client;
      if (signal.aborted || !client || !this.contact.isConnected) continue;
      try {
        const poll = await pollLeases(client, ctx, this.options.staleForMs);
        if (signal.aborted) return;
        this.contact.contact();
        const unknown = poll.unknown.filter((gk) => !this.badGateways.has(gk));
        if (unknown.length > 0) this.feed?.enqueue(unknown);
        this.reap(poll.expired);
        this.reevaluate();
      } catch (err) {
        this.onReadError('leases', err);
        this.feed?.requestResync();
      }
    }
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

  private skip(key: string, reason: SkipReason, detail: string): void {
    this.skipCounts[reason] = (this.skipCounts[reason] ?? 0) + 1;
    this.metrics.recordsSkipped.inc({ reason });
    this.recentSkips.unshift({ key, reason, detail, at: this.now() });
    this.recentSkips.length = Math.min(this.recentSkips.length, RECENT);
    const gatewayPrefix = `${keys.gateways}#`;
    if (key.startsWith(gatewayPrefix)) this.badGateways.add(key.slice(gatewayPrefix.length));
    this.logger.warn({ key, reason, detail }, 'discovery: skipped an unreadable registry record');
  }

  /** Re-judges leases, evicts, republishes the view if anything visible changed, persists. */
  private reevaluate(): void {
    const previous = this.evaluation;
    const evaluation = evaluate(this.model, this.contact.evalNow(), this.options.staleForMs);
    for (const gk of evaluation.evict) this.model.removeGateway(gk);
    for (const [name, state] of previous.clusters) {
      if (state.freshness === 'stale' && !evaluation.clusters.has(name) && name !== this.options.cluster) {
        this.metrics.evictions.inc();
        this.evictions.unshift({ name, at: this.now() });
        this.evictions.length = Math.min(this.evictions.length, RECENT);
        this.logger.info({ cluster: name }, 'discovery: evicted a stale cluster');
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
      own: this.own,
      source: this.source,
      connected: this.contact.isConnected,
      syncedAt: this.contact.lastContact ?? this.diskSyncedAt,
    };
  }

  /** Replaces this gateway's exported services. Coalesced and idempotent; throws RECORD_INVALID. */
  setLocalServices(services: readonly ServiceExport[]): void {
    if (this.closing) throw new DiscoveryError('CLOSED', 'discovery is closed');
    validateServices(services);
    const records = services.map((service) => serviceRecordOf(service));
    const desired = new Map(
      records.map((record) => [`${record.name}.${record.namespace}`, encodeService(record)]),
    );
    if (
      desired.size === this.desired.size &&
      [...desired].every(([key, text]) => this.desired.get(key) === text)
    ) {
      return;
    }
    this.desired = desired;
    this.own = {
      ...this.own,
      services: new Map(records.map((record) => [record.key, record])),
      version: this.own.version + 1,
    };
    this.registration?.setServices(desired);
    this.cache.refresh();
  }

  status(): DiscoveryStatus {
    const snapshot = this.cache.snapshot();
    const live: string[] = [];
    const stale: DiscoveryStatus['clusters']['stale'][number][] = [];
    let services = 0;
    for (const cluster of snapshot.clusters.values()) {
      services += cluster.services.size;
      if (cluster.freshness === 'live') live.push(cluster.name);
      else {
        const since = cluster.staleSince ?? null;
        stale.push({
          name: cluster.name,
          staleSince: since,
          evictAt: since === null ? null : since + this.options.staleForMs,
        });
      }
    }
    const now = this.now();
    const lastContact = this.contact.lastContact;
    const reference = lastContact ?? this.diskSyncedAt;
    const position = this.feed?.lastPosition;
    const total = Object.values(this.skipCounts).reduce((sum, n) => sum + n, 0);
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
        expiresAt: this.own.leaseExpiresAt === 0 ? null : this.own.leaseExpiresAt,
        lastHeartbeatAt: this.registration?.heartbeatAt ?? null,
      },
      clusters: { live, stale, evicted: [...this.evictions] },
      services,
      skippedRecords: { total, byReason: { ...this.skipCounts }, recent: [...this.recentSkips] },
      pendingWrites: this.registration?.pendingWrites ?? this.desired.size + 1,
      lastError: this.lastError,
      snapshotFile: {
        path: this.options.snapshotFile,
        loadedAt: this.loadedAt,
        lastWriteAt: this.store.lastWriteAt ?? null,
        lastError: this.store.lastError ?? null,
      },
    };
  }

  /** Ends this gateway's lease (best effort, bounded), stops every loop and connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.controller.abort();
    this.releaseStart?.();
    if (this.transitionTimer) clearTimeout(this.transitionTimer);
    this.transitionTimer = undefined;
    const client = this.client;
    if (this.registration && client?.status === 'ready') {
      const ended = await this.registration.deregister(DEREGISTER_TIMEOUT_MS);
      this.logger.info({ gk: this.ownGk, ended }, 'discovery: deregistered');
    }
    this.mode = 'closed';
    client?.disconnect();
    this.feedClient?.disconnect();
    if (this.starting && this.source !== 'empty') {
      this.store.schedule(() => this.serialize());
      await this.store.flush();
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
