// Publishes this gateway's compact stats record (golden metrics of its edges, its peer links, its latest
// fabric events) to Redis every publishIntervalMs, with a TTL of three intervals, and reads the other
// gateways' records when someone asks for the fabric-wide view (cached for readMaxAgeMs, concurrent
// readers share one MGET). A Redis outage only makes the fabric-wide view older; it never blocks the
// gateway. Lifecycle: construct (no side effects) → start() → close() (deletes the record); idempotent.
import type { Logger } from 'pino';
import {
  createRedisClient,
  MAX_STATS_EDGES,
  MAX_STATS_EVENTS,
  MAX_STATS_PEERS,
  StatsStore,
  type GatewayStatsRecord,
  type PeerLinkRecord,
  type RedisClient,
  type RedisConfig,
} from '../../discovery/index.js';
import type { FabricEvents } from './fabric-events.js';
import type { GoldenMetrics } from './golden-metrics.js';

export interface FabricStatsOptions {
  /** The fabric's Redis; without it nothing is published and the fabric-wide view is this gateway's. */
  readonly redis?: RedisConfig;
  readonly cluster: string;
  readonly gatewayId: string;
  readonly golden?: GoldenMetrics;
  readonly events?: FabricEvents;
  /** The data plane's peer gateways (DataPlane.peerStates()): the record's peer links. */
  readonly peers?: () => unknown;
  /** Default 2000 ms; the record lives three intervals. */
  readonly publishIntervalMs?: number;
  /** How old a read of the other gateways' records may be before the next ask reads again. Default 1000 ms. */
  readonly readMaxAgeMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export interface FabricStatsStatus {
  readonly publishIntervalMs: number;
  readonly lastPublishAt: number | null;
  readonly lastReadAt: number | null;
  readonly lastError: string | null;
  readonly skipped: readonly { readonly key: string; readonly detail: string }[];
}

const REASON_MAX = 480;
/** The record's name fields hold at most 253 characters; a failover's `to` lists every cluster gaining. */
const NAMES_MAX = 253;
const CLOSE_REMOVE_TIMEOUT_MS = 300;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** An event's `from`/`to` as the record holds them (null: nowhere). */
function clipNames(names: string | null): string | null {
  return names === null ? null : clip(names, NAMES_MAX);
}

/** The data plane's peer gateways as stats records carry them (read defensively). */
export function peerLinksOf(list: unknown): PeerLinkRecord[] {
  if (!Array.isArray(list)) return [];
  const links: PeerLinkRecord[] = [];
  for (const item of list as unknown[]) {
    if (item === null || typeof item !== 'object') continue;
    const p = item as Record<string, unknown>;
    if (typeof p.cluster !== 'string' || typeof p.gatewayId !== 'string') continue;
    links.push({
      cluster: p.cluster,
      gateway: p.gatewayId,
      rtt: typeof p.rttMs === 'number' && Number.isFinite(p.rttMs) && p.rttMs >= 0 ? p.rttMs : null,
      up: p.available === true,
      connected: p.connected === true,
      ...(typeof p.lastError === 'string' ? { error: clip(p.lastError, REASON_MAX) } : {}),
    });
  }
  return links.slice(0, MAX_STATS_PEERS);
}

export class FabricStats {
  readonly publishIntervalMs: number;
  private readonly options: FabricStatsOptions;
  private readonly now: () => number;
  private client: RedisClient | undefined;
  private store: StatsStore | undefined;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  private reading: Promise<readonly GatewayStatsRecord[]> | undefined;
  private cache: readonly GatewayStatsRecord[] = [];
  private lastReadAt: number | null = null;
  private lastPublishAt: number | null = null;
  private lastError: string | null = null;
  private skipped: { key: string; detail: string }[] = [];
  private closing: Promise<void> | undefined;

  constructor(options: FabricStatsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.publishIntervalMs = options.publishIntervalMs ?? 2000;
  }

  /** Connects (in the background) and starts publishing; never rejects for Redis being down. */
  start(): void {
    if (this.client || this.closing || !this.options.redis) return;
    const timeoutMs = Math.min(2000, this.publishIntervalMs);
    const client = createRedisClient(this.options.redis, {
      commandTimeoutMs: timeoutMs,
      connectTimeoutMs: timeoutMs,
      maxReconnectDelayMs: 1000,
    });
    client.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    client.on('ready', () => void this.publish());
    this.client = client;
    this.store = new StatsStore(client);
    this.timer = setInterval(() => void this.publish(), this.publishIntervalMs);
    this.timer.unref();
  }

  /** This gateway's record as it would be published now. */
  localRecord(): GatewayStatsRecord {
    const { cluster, gatewayId, golden, events } = this.options;
    const summary = golden?.summary();
    let peers: unknown;
    try {
      peers = this.options.peers?.();
    } catch {
      peers = undefined;
    }
    return {
      v: 1,
      cluster,
      gateway: gatewayId,
      at: summary?.at ?? this.now(),
      windowMs: Math.round(summary?.windowMs ?? golden?.windowMs ?? 30_000),
      edges: (summary?.edges ?? []).slice(0, MAX_STATS_EDGES).map((e) => ({
        src: e.source,
        svc: e.service,
        dst: e.destination,
        n: e.requests,
        rps: e.rps,
        success: e.successRate,
        p50: e.p50Ms,
        p95: e.p95Ms,
        p99: e.p99Ms,
      })),
      peers: peerLinksOf(peers),
      events: (events?.recent(MAX_STATS_EVENTS) ?? []).map((e) => ({
        at: e.at,
        kind: e.kind,
        reason: clip(e.reason, REASON_MAX),
        ...(e.cluster === undefined ? {} : { cluster: e.cluster }),
        ...(e.service === undefined ? {} : { service: e.service }),
        ...(e.from === undefined ? {} : { from: clipNames(e.from) }),
        ...(e.to === undefined ? {} : { to: clipNames(e.to) }),
      })),
    };
  }

  /** Writes the record now (the timer does this every interval); concurrent calls share one write. */
  publish(): Promise<void> {
    this.publishing ??= (async () => {
      const store = this.store;
      if (!store || this.closing || this.client?.status !== 'ready') return;
      try {
        await store.publish(this.localRecord(), this.publishIntervalMs * 3);
        this.lastPublishAt = this.now();
      } catch (err) {
        this.lastError = (err as Error).message;
      }
    })().finally(() => (this.publishing = undefined));
    return this.publishing;
  }

  /**
   * The other gateways' records (`gateways` as the fabric view lists them, this one excluded), at most
   * readMaxAgeMs old. On a Redis error the last good read is returned (and status() says why).
   */
  async remote(
    gateways: readonly { readonly cluster: string; readonly id: string }[],
  ): Promise<readonly GatewayStatsRecord[]> {
    const store = this.store;
    if (!store || this.closing) return [];
    const maxAge = this.options.readMaxAgeMs ?? 1000;
    if (this.lastReadAt !== null && this.now() - this.lastReadAt < maxAge) return this.cache;
    const others = gateways.filter(
      (g) => !(g.cluster === this.options.cluster && g.id === this.options.gatewayId),
    );
    this.reading ??= (async () => {
      try {
        const result = await store.read(others);
        this.cache = result.records;
        this.skipped = [...result.skipped];
        this.lastReadAt = this.now();
      } catch (err) {
        this.lastError = (err as Error).message;
      }
      return this.cache;
    })().finally(() => (this.reading = undefined));
    return this.reading;
  }

  status(): FabricStatsStatus {
    return {
      publishIntervalMs: this.publishIntervalMs,
      lastPublishAt: this.lastPublishAt,
      lastReadAt: this.lastReadAt,
      lastError: this.lastError,
      skipped: this.skipped,
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      const client = this.client;
      if (!client) return;
      await this.publishing?.catch(() => {});
      if (client.status === 'ready') {
        // Best effort and bounded: a frozen Redis must not hold up shutdown; the TTL cleans up anyway.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.store?.remove(this.options.cluster, this.options.gatewayId).catch(() => {}),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_REMOVE_TIMEOUT_MS))),
        ]);
        clearTimeout(timer);
      }
      client.disconnect();
    })();
    return this.closing;
  }
}
