// Remote clusters' RTTs as route decisions read them (failover order within a locality tier): a measured
// RTT is kept for `holdMs`, then read again. A change of RTT tier rebuilds the routes that ranked the
// cluster by RTT (route-changes.ts), and under load measured RTTs jitter across tier steps: read afresh
// at every rebuild, they made nearly every rebuild one of those routes' (a whole cluster's, before only
// the ranked routes were named). A cluster not measured yet is read every time, so its first measurement
// counts at once.
import type { Clock } from '../resilience/index.js';

export class RttSample {
  private readonly measure: (cluster: string) => number | undefined;
  private readonly holdMs: number;
  private readonly clock: Clock;
  private takenAt = Number.NEGATIVE_INFINITY;
  private sample = new Map<string, number | undefined>();

  constructor(measure: (cluster: string) => number | undefined, holdMs: number, clock: Clock) {
    this.measure = measure;
    this.holdMs = holdMs;
    this.clock = clock;
  }

  /** Starts a new sample when the current one is `holdMs` old (call once per rebuild, before reading). */
  refresh(): void {
    const now = this.clock();
    if (now - this.takenAt < this.holdMs) return;
    this.takenAt = now;
    this.sample = new Map();
  }

  rttOf(cluster: string): number | undefined {
    let rtt = this.sample.get(cluster);
    if (rtt === undefined) {
      rtt = this.measure(cluster);
      this.sample.set(cluster, rtt);
    }
    return rtt;
  }
}
