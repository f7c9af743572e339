// The registry's Prometheus metrics, registered on the registry the caller passes (never the global
// one). Gauges that describe current state are computed at scrape time from `status()`.
import { Counter, Gauge, type Registry } from 'prom-client';
import { SKIP_REASONS, type SkipReason } from './records.js';
import type { DiscoveryStatus } from './status.js';

export class DiscoveryMetrics {
  readonly recordsSkipped: Counter<'reason'>;
  readonly evictions: Counter;
  readonly fullSyncs: Counter<'reason'>;
  readonly redisErrors: Counter<'op'>;
  readonly snapshotWriteErrors: Counter;

  constructor(registry: Registry, status: () => DiscoveryStatus) {
    const registers = [registry];
    this.recordsSkipped = new Counter({
      name: 'weft_discovery_records_skipped_total',
      help: 'Registry records (Redis, feed or disk snapshot) skipped as unreadable, by reason',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of SKIP_REASONS)
      this.recordsSkipped.inc({ reason } satisfies { reason: SkipReason }, 0);
    this.evictions = new Counter({
      name: 'weft_discovery_evictions_total',
      help: 'Clusters removed from the view after being stale for staleFor',
      registers,
    });
    this.fullSyncs = new Counter({
      name: 'weft_discovery_full_syncs_total',
      help: 'Full reads of the registry, by reason (start, reconnect, gap, requested)',
      labelNames: ['reason'],
      registers,
    });
    this.redisErrors = new Counter({
      name: 'weft_discovery_redis_errors_total',
      help: 'Failed Redis operations, by operation (feed, leases, write, heartbeat, reap)',
      labelNames: ['op'],
      registers,
    });
    this.snapshotWriteErrors = new Counter({
      name: 'weft_discovery_snapshot_write_errors_total',
      help: 'Failed writes of the on-disk snapshot',
      registers,
    });
    new Gauge({
      name: 'weft_discovery_connected',
      help: '1 while the change feed is connected and trusted, else 0',
      registers,
      collect() {
        this.set(status().connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'weft_discovery_synced',
      help: '1 once a full sync from Redis has succeeded',
      registers,
      collect() {
        this.set(status().synced ? 1 : 0);
      },
    });
    new Gauge({
      name: 'weft_discovery_snapshot_age_seconds',
      help: 'Time since the registry last heard from Redis (the age of the snapshot routing uses); -1 if never',
      registers,
      collect() {
        const age = status().snapshotAgeMs;
        this.set(age === null ? -1 : age / 1000);
      },
    });
    new Gauge({
      name: 'weft_discovery_clusters',
      help: 'Clusters in the view, by freshness (live, stale)',
      labelNames: ['freshness'],
      registers,
      collect() {
        const { clusters } = status();
        this.set({ freshness: 'live' }, clusters.live.length);
        this.set({ freshness: 'stale' }, clusters.stale.length);
      },
    });
    new Gauge({
      name: 'weft_discovery_services',
      help: 'Service exports in the view, summed over clusters',
      registers,
      collect() {
        this.set(status().services);
      },
    });
    new Gauge({
      name: 'weft_discovery_feed_lag_seconds',
      help: 'Age (server clock) of the newest change-feed entry when it was applied',
      registers,
      collect() {
        this.set((status().feed.lagMs ?? 0) / 1000);
      },
    });
    new Gauge({
      name: 'weft_discovery_pending_writes',
      help: 'Own records not yet known to be in Redis (coalesced; bounded by the local service set)',
      registers,
      collect() {
        this.set(status().pendingWrites);
      },
    });
    new Gauge({
      name: 'weft_discovery_revision',
      help: 'Revision of the published fabric snapshot',
      registers,
      collect() {
        this.set(status().revision);
      },
    });
  }
}
