// Turns raw cluster health into "publishable": a cluster goes out at once when it turns bad, and comes back
// only after it has stayed healthy for the hold-down time, so a flapping cloud does not flap DNS. A cluster
// seen for the first time healthy is publishable at once (nothing is recovering). The state is exported
// into the publisher's Redis state so a new leader keeps counting a recovery instead of restarting it.
import type { ClusterHealth } from './record-spec.js';

export interface GateEntry {
  readonly up: boolean;
  /** Epoch ms since when the cluster has been healthy while still held down. */
  readonly healthySince?: number;
}

export type GateState = Readonly<Record<string, GateEntry>>;

export class HealthGate {
  private readonly holdDownMs: number;
  private entries = new Map<string, GateEntry>();

  constructor(holdDownMs: number) {
    this.holdDownMs = holdDownMs;
  }

  /** Feeds one complete health report; clusters missing from it count as down. */
  observe(report: readonly ClusterHealth[], now: number, known: Iterable<string> = []): void {
    const healthy = new Map<string, boolean>();
    for (const cluster of known) healthy.set(cluster, false);
    for (const h of report) healthy.set(h.cluster, h.healthy || healthy.get(h.cluster) === true);
    for (const [cluster, isHealthy] of healthy) {
      const entry = this.entries.get(cluster);
      if (!isHealthy) {
        this.entries.set(cluster, { up: false });
      } else if (!entry) {
        this.entries.set(cluster, { up: true });
      } else if (!entry.up && entry.healthySince === undefined) {
        this.entries.set(cluster, { up: false, healthySince: now });
      }
    }
    this.promote(now);
  }

  /** Clusters publishable at `now`. */
  upClusters(now: number): Set<string> {
    this.promote(now);
    const up = new Set<string>();
    for (const [cluster, entry] of this.entries) if (entry.up) up.add(cluster);
    return up;
  }

  /** Clusters healthy but still held down, with the epoch ms at which each comes back. */
  heldDown(): Map<string, number> {
    const held = new Map<string, number>();
    for (const [cluster, entry] of this.entries) {
      if (!entry.up && entry.healthySince !== undefined)
        held.set(cluster, entry.healthySince + this.holdDownMs);
    }
    return held;
  }

  /** The earliest epoch ms at which a held-down cluster comes back; undefined when none is held. */
  nextReleaseAt(): number | undefined {
    const times = [...this.heldDown().values()];
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  export(): GateState {
    return Object.fromEntries(this.entries);
  }

  /** Replaces the state with one saved by a previous leader (entries it does not hold are kept). */
  restore(state: GateState): void {
    for (const [cluster, entry] of Object.entries(state)) {
      if (typeof entry?.up !== 'boolean') continue;
      const since = typeof entry.healthySince === 'number' ? entry.healthySince : undefined;
      this.entries.set(
        cluster,
        since === undefined ? { up: entry.up } : { up: entry.up, healthySince: since },
      );
    }
  }

  private promote(now: number): void {
    for (const [cluster, entry] of this.entries) {
      if (!entry.up && entry.healthySince !== undefined && now - entry.healthySince >= this.holdDownMs) {
        this.entries.set(cluster, { up: true });
      }
    }
  }
}
