// What went wrong, for the admin API, logs and metrics: skipped records (by reason, the latest few),
// recent evictions, Redis errors. Bounded: counters plus the last 20 of each list.
import type { Logger } from 'pino';
import { keys } from './keys.js';
import type { DiscoveryMetrics } from './metrics.js';
import type { SkipReason } from './records.js';
import type { DiscoveryStatus, SkippedRecord } from './status.js';

const RECENT = 20;
/** ioredis's message for a command sent while disconnected (offline queue disabled). */
const NOT_CONNECTED = "Stream isn't writeable";

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Diagnostics {
  private readonly skipCounts: Partial<Record<SkipReason, number>> = {};
  private readonly recentSkips: SkippedRecord[] = [];
  private readonly evictions: { name: string; at: number }[] = [];
  /** Gateways whose record is unreadable: not re-read on every lease poll until the next full sync. */
  readonly badGateways = new Set<string>();
  lastError: string | null = null;

  constructor(
    private readonly metrics: DiscoveryMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  skip(key: string, reason: SkipReason, detail: string): void {
    this.skipCounts[reason] = (this.skipCounts[reason] ?? 0) + 1;
    this.metrics.recordsSkipped.inc({ reason });
    this.recentSkips.unshift({ key, reason, detail, at: this.now() });
    this.recentSkips.length = Math.min(this.recentSkips.length, RECENT);
    const gatewayPrefix = `${keys.gateways}#`;
    if (key.startsWith(gatewayPrefix)) this.badGateways.add(key.slice(gatewayPrefix.length));
    this.logger.warn({ key, reason, detail }, 'discovery: skipped an unreadable registry record');
  }

  evicted(name: string): void {
    this.metrics.evictions.inc();
    this.evictions.unshift({ name, at: this.now() });
    this.evictions.length = Math.min(this.evictions.length, RECENT);
    this.logger.info({ cluster: name }, 'discovery: evicted a stale cluster');
  }

  redisError(op: string, err: unknown): void {
    this.metrics.redisErrors.inc({ op });
    // "Not connected" says nothing new: the connection's own error (kept in lastError) says why.
    if (!errorText(err).includes(NOT_CONNECTED)) this.lastError = `${op}: ${errorText(err)}`;
    this.logger.debug({ op, err: errorText(err) }, 'discovery: Redis operation failed');
  }

  connectionError(err: Error): void {
    this.lastError = `connection: ${err.message}`;
  }

  get skipped(): DiscoveryStatus['skippedRecords'] {
    const total = Object.values(this.skipCounts).reduce((sum, n) => sum + n, 0);
    return { total, byReason: { ...this.skipCounts }, recent: [...this.recentSkips] };
  }

  get recentEvictions(): DiscoveryStatus['clusters']['evicted'] {
    return [...this.evictions];
  }
}
