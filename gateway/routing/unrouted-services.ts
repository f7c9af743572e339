// Which services have been out of every route table for a while. Per-service state (retry budgets,
// circuit breakers, their Prometheus series) is made on demand and would otherwise pile up with
// short-lived names; a service that leaves for a moment (a redeploy) keeps it.
import type { Clock } from '../resilience/index.js';

export class UnroutedServices {
  private readonly lastRouted = new Map<string, number>();
  private readonly retireAfterMs: number;
  private readonly clock: Clock;

  constructor(retireAfterMs: number, clock: Clock) {
    this.retireAfterMs = retireAfterMs;
    this.clock = clock;
  }

  /**
   * Takes a new route table's routes (by service); returns the services no table has routed for
   * `retireAfterMs` or longer, each once.
   */
  update(routed: ReadonlyMap<string, unknown>): string[] {
    const now = this.clock();
    for (const service of routed.keys()) this.lastRouted.set(service, now);
    const gone: string[] = [];
    for (const [service, at] of this.lastRouted) {
      if (routed.has(service) || now - at < this.retireAfterMs) continue;
      this.lastRouted.delete(service);
      gone.push(service);
    }
    return gone;
  }
}
