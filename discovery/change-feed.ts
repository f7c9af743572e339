// The change feed reader: full sync, then XREAD BLOCK on the feed stream from the position captured
// before that sync, re-reading the gateways each entry names. A sequence gap (FLUSHALL, failover to a
// replica that missed entries, a trimmed stream), an error or a disconnect sends it back to a full sync,
// so nothing is lost: the feed is trusted only from a position that a full sync vouches for.
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import { keys, parseGatewayKey } from './keys.js';
import { fullSync, refetch, type FeedPosition, type ReaderContext, type Refetch } from './registry-reader.js';
import { whenReady, type RedisClient } from './redis-client.js';

export type SyncReason = 'start' | 'reconnect' | 'gap' | 'requested';

export interface ChangeFeedEvents {
  /** A full sync was applied to the model; `leaseless` gateways have a record but no lease. */
  onSynced(reason: SyncReason, leaseless: readonly string[]): void;
  /** A feed batch was applied; lag is server now minus the newest entry's timestamp. */
  onApplied(lagMs: number): void;
  /** A read from Redis succeeded (a block that timed out empty counts). */
  onContact(): void;
  onError(err: unknown): void;
}

export interface ChangeFeedOptions {
  readonly blockMs: number;
  readonly batchSize: number;
  /** How long to wait for a (re)connection before trying anyway. */
  readonly readyWaitMs: number;
  readonly logger: Logger;
}

const KINDS = new Set(['gateway', 'services', 'reap']);
const MAX_KEYS_PER_ENTRY = 1000;

interface FeedEntry {
  readonly id: string;
  readonly seq: number;
  /** Undefined for an unreadable entry: skipped, but its sequence number still counts. */
  readonly gk?: string;
  readonly what?: Refetch;
}

export class ChangeFeed {
  private position: FeedPosition | undefined;
  private resyncRequested = false;
  private readonly queued = new Map<string, Refetch>();
  private readonly backoff = new Backoff(100, 2000);

  constructor(
    private readonly client: RedisClient,
    private readonly ctx: ReaderContext,
    private readonly events: ChangeFeedEvents,
    private readonly options: ChangeFeedOptions,
  ) {}

  get lastPosition(): FeedPosition | undefined {
    return this.position;
  }

  /** Asks for a full sync after the current read returns. */
  requestResync(): void {
    this.resyncRequested = true;
  }

  /** Queues a re-read of gateways (e.g. a lease for a gateway the model does not know). */
  enqueue(gks: Iterable<string>): void {
    for (const gk of gks) this.queued.set(gk, 'all');
  }

  /** Ends a backoff wait early (the connection is ready again). */
  wake(): void {
    this.backoff.wake();
  }

  /** Runs until the signal aborts. Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    let reason: SyncReason = 'start';
    while (!signal.aborted) {
      try {
        await whenReady(this.client, this.options.readyWaitMs, signal);
        if (signal.aborted) return;
        this.resyncRequested = false;
        const { position, leaseless } = await fullSync(this.client, this.ctx);
        if (signal.aborted) return;
        this.position = position;
        this.events.onContact();
        this.events.onSynced(reason, leaseless);
        this.backoff.reset();
        reason = await this.follow(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.events.onError(err);
        reason = 'reconnect';
        await this.backoff.wait(signal);
      }
    }
  }

  /** Follows the feed until a resync is needed; returns why. Throws on Redis errors. */
  private async follow(signal: AbortSignal): Promise<SyncReason> {
    const { blockMs, batchSize } = this.options;
    while (!signal.aborted && !this.resyncRequested) {
      if (this.queued.size > 0) {
        const queued = new Map(this.queued);
        this.queued.clear();
        await refetch(this.client, this.ctx, queued);
        this.events.onApplied(0);
      }
      const position = this.position;
      if (!position) return 'requested';
      const reply = await this.client.xread(
        'COUNT',
        batchSize,
        'BLOCK',
        blockMs,
        'STREAMS',
        keys.feed,
        position.id,
      );
      if (signal.aborted) break;
      this.events.onContact();
      const entries = this.parse(reply);
      if (entries.length === 0) continue;
      const requests = new Map<string, Refetch>();
      let seq = position.seq;
      let gap = false;
      for (const entry of entries) {
        if (entry.seq !== seq + 1) {
          this.options.logger.info(
            { expected: seq + 1, got: entry.seq },
            'discovery: change feed sequence gap; full resync',
          );
          gap = true;
          break;
        }
        seq = entry.seq;
        if (entry.gk !== undefined && entry.what !== undefined) merge(requests, entry.gk, entry.what);
      }
      if (gap) return 'gap';
      await refetch(this.client, this.ctx, requests);
      const last = entries[entries.length - 1];
      if (!last) continue;
      this.position = { id: last.id, seq };
      this.events.onApplied(Math.max(0, this.ctx.clock.serverNow() - Number(last.id.split('-')[0])));
    }
    return 'requested';
  }

  private parse(reply: unknown): FeedEntry[] {
    if (!Array.isArray(reply)) return [];
    const entries: FeedEntry[] = [];
    for (const stream of reply as unknown[]) {
      const items = Array.isArray(stream) ? (stream[1] as unknown) : undefined;
      if (!Array.isArray(items)) continue;
      for (const item of items as unknown[]) {
        const entry = Array.isArray(item) ? this.parseEntry(item[0], item[1]) : undefined;
        if (entry) entries.push(entry);
        else if (Array.isArray(item) && typeof item[0] === 'string') {
          // Skipping still advances past the entry; its sequence number is lost, so the next one
          // looks like a gap and triggers a full resync, which is the safe outcome.
          this.position = { id: item[0], seq: this.position?.seq ?? 0 };
        }
      }
    }
    return entries;
  }

  private parseEntry(id: unknown, fields: unknown): FeedEntry | undefined {
    const bad = (detail: string) => {
      this.ctx.skip(`${keys.feed}#${String(id)}`, 'invalid_feed_entry', detail);
      return undefined;
    };
    if (typeof id !== 'string' || !Array.isArray(fields)) return bad('not a stream entry');
    const map = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) map.set(String(fields[i]), String(fields[i + 1]));
    const seq = Number(map.get('seq'));
    const kind = map.get('kind') ?? '';
    const gk = map.get('gk') ?? '';
    const list = map.get('keys') ?? '';
    if (!Number.isSafeInteger(seq) || seq < 1) return bad('seq is not a positive integer');
    const skipped = (detail: string): FeedEntry => {
      bad(detail);
      return { id, seq };
    };
    if (!KINDS.has(kind)) return skipped(`unknown kind ${JSON.stringify(kind).slice(0, 40)}`);
    if (!parseGatewayKey(gk)) return skipped('gk is not <cluster>/<id>');
    if (list === '*' || kind !== 'services') return { id, seq, gk, what: 'all' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(list);
    } catch {
      return skipped('keys is neither * nor JSON');
    }
    // cjson encodes an empty table as {}: a diff that named nothing; re-reading everything is harmless.
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return { id, seq, gk, what: 'all' };
    if (
      !Array.isArray(parsed) ||
      parsed.length > MAX_KEYS_PER_ENTRY ||
      !parsed.every((k) => typeof k === 'string')
    ) {
      return skipped('keys is not a list of service keys');
    }
    return { id, seq, gk, what: parsed.length === 0 ? 'all' : new Set(parsed) };
  }
}

function merge(requests: Map<string, Refetch>, gk: string, what: Refetch): void {
  const existing = requests.get(gk);
  if (existing === 'all') return;
  if (what === 'all' || !existing) {
    requests.set(gk, what === 'all' ? 'all' : new Set(what));
    return;
  }
  for (const key of what) existing.add(key);
}
