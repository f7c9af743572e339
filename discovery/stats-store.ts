// Each gateway's compact traffic summary, shared through Redis so that any gateway can show the whole
// fabric: golden metrics of the edges it originates, its peer links (RTT, up/down) and its latest
// failover events. One string per gateway replica, written every few seconds with a TTL of three
// publish intervals, so a dead gateway's summary disappears on its own:
//
//   weft:{v1}:stats:<cluster>/<id>   string   GatewayStatsRecord JSON, PX = 3 × publish interval
//
// The key carries the `{v1}` hash tag like every registry key, so reading many of them is one MGET on
// every Redis topology. Readers validate each record and skip (and report) the ones they cannot use.
import { z } from 'zod';
import { CLUSTER_NAME, GATEWAY_ID, KEY_LAYOUT_VERSION, KEY_PREFIX, gatewayKey } from './keys.js';
import type { RedisClient } from './redis-client.js';

export const STATS_KEY_PREFIX = `${KEY_PREFIX}stats:`;
/** Largest record a reader accepts, in characters of JSON. */
export const MAX_STATS_RECORD_CHARS = 256 * 1024;
export const MAX_STATS_EDGES = 200;
export const MAX_STATS_PEERS = 200;
export const MAX_STATS_EVENTS = 20;

/** Golden metrics of one edge as its source gateway saw them over `windowMs`. Latencies in ms. */
export interface EdgeStatsRecord {
  readonly src: string;
  readonly svc: string;
  readonly dst: string;
  /** Requests in the window. */
  readonly n: number;
  readonly rps: number;
  /** Success ratio 0..1. */
  readonly success: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/** One mTLS link from the publishing gateway to a peer gateway. */
export interface PeerLinkRecord {
  readonly cluster: string;
  readonly gateway: string;
  /** Last measured round trip, ms; null when not measured yet. */
  readonly rtt: number | null;
  /** Whether the publisher would send new requests over this link now. */
  readonly up: boolean;
  readonly connected: boolean;
  readonly error?: string;
}

/** A failover, failback or cluster state change, with the reason the publisher saw. */
export interface FabricEventRecord {
  readonly at: number;
  readonly kind: string;
  readonly reason: string;
  readonly cluster?: string;
  readonly service?: string;
  /**
   * What moved: the clusters traffic left and went to (failover, failback; null: nowhere), or the routing
   * modes (routing-mode).
   */
  readonly from?: string | null;
  readonly to?: string | null;
}

export interface GatewayStatsRecord {
  readonly v: 1;
  readonly cluster: string;
  readonly gateway: string;
  /** Epoch ms (publisher's clock) of the summary. */
  readonly at: number;
  readonly windowMs: number;
  readonly edges: readonly EdgeStatsRecord[];
  readonly peers: readonly PeerLinkRecord[];
  readonly events: readonly FabricEventRecord[];
}

export interface StatsReadResult {
  readonly records: readonly GatewayStatsRecord[];
  /** Keys whose value could not be used, and why. */
  readonly skipped: readonly { readonly key: string; readonly detail: string }[];
}

const name = z.string().min(1).max(253);
const nonNegative = z.number().finite().min(0);

const recordSchema = z.object({
  v: z.literal(KEY_LAYOUT_VERSION),
  cluster: z.string().regex(CLUSTER_NAME),
  gateway: z.string().regex(GATEWAY_ID),
  at: z.number().int().min(0),
  windowMs: z.number().int().positive(),
  edges: z
    .array(
      z.object({
        src: name,
        svc: name,
        dst: name,
        n: z.number().int().min(0),
        rps: nonNegative,
        success: z.number().min(0).max(1),
        p50: nonNegative,
        p95: nonNegative,
        p99: nonNegative,
      }),
    )
    .max(MAX_STATS_EDGES),
  peers: z
    .array(
      z.object({
        cluster: z.string().regex(CLUSTER_NAME),
        gateway: z.string().regex(GATEWAY_ID),
        rtt: nonNegative.nullable(),
        up: z.boolean(),
        connected: z.boolean(),
        error: z.string().max(500).optional(),
      }),
    )
    .max(MAX_STATS_PEERS),
  events: z
    .array(
      z.object({
        at: z.number().int().min(0),
        kind: z.string().min(1).max(40),
        reason: z.string().max(500),
        cluster: name.optional(),
        service: name.optional(),
        from: name.nullable().optional(),
        to: name.nullable().optional(),
      }),
    )
    .max(MAX_STATS_EVENTS),
});

export function statsKey(cluster: string, id: string): string {
  return `${STATS_KEY_PREFIX}${gatewayKey(cluster, id)}`;
}

/** Decodes one stored record; a string saying what is wrong when it cannot be used. */
export function decodeStatsRecord(text: string): GatewayStatsRecord | string {
  if (text.length > MAX_STATS_RECORD_CHARS) return `record of ${text.length} characters is too large`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const parsed = recordSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return `${where}${issue?.message ?? 'invalid'}`;
  }
  return parsed.data;
}

/** Reads and writes stats records over a client the caller owns (and closes). */
export class StatsStore {
  private readonly client: RedisClient;

  constructor(client: RedisClient) {
    this.client = client;
  }

  /** Writes this gateway's record with a TTL; rejects when Redis does. */
  async publish(record: GatewayStatsRecord, ttlMs: number): Promise<void> {
    await this.client.set(statsKey(record.cluster, record.gateway), JSON.stringify(record), 'PX', ttlMs);
  }

  /** Removes a gateway's record (a graceful shutdown), so readers stop showing it at once. */
  async remove(cluster: string, id: string): Promise<void> {
    await this.client.del(statsKey(cluster, id));
  }

  /** The records of the given gateway replicas that exist and decode; one MGET. */
  async read(
    gateways: readonly { readonly cluster: string; readonly id: string }[],
  ): Promise<StatsReadResult> {
    if (gateways.length === 0) return { records: [], skipped: [] };
    const keys = gateways.map((g) => statsKey(g.cluster, g.id));
    const values = await this.client.mget(...keys);
    const records: GatewayStatsRecord[] = [];
    const skipped: { key: string; detail: string }[] = [];
    values.forEach((text, i) => {
      if (text === null || text === undefined) return;
      const key = keys[i] as string;
      const decoded = decodeStatsRecord(text);
      if (typeof decoded === 'string') {
        skipped.push({ key, detail: decoded });
        return;
      }
      const expected = gateways[i];
      if (expected && (decoded.cluster !== expected.cluster || decoded.gateway !== expected.id)) {
        skipped.push({ key, detail: `record names ${decoded.cluster}/${decoded.gateway}` });
        return;
      }
      records.push(decoded);
    });
    return { records, skipped };
  }
}
