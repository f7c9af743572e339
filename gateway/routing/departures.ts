// Names that left: services no route table has any more, clusters gone from the fabric. State kept per
// name — request metrics, failover policies, retry budgets, circuit breakers, metric series — is made on
// demand and would pile up with short-lived names (preview environments, canaries). A name absent for
// `retireAfterMs` is reported once, so its state can go; one back sooner (a redeploy) keeps it.
import { monotonicClock, type Clock } from '../resilience/index.js';

export interface RetirementOptions {
  /** How long a name stays absent before its state goes. Default RETIRE_AFTER_MS. */
  readonly retireAfterMs?: number;
  readonly clock?: Clock;
}

export const RETIRE_AFTER_MS = 10 * 60_000;

export class Departures {
  /** Every name seen, and since when it has been absent (undefined while present). */
  private readonly absentSince = new Map<string, number | undefined>();
  private readonly retireAfterMs: number;
  private readonly clock: Clock;
  /** When the earliest absent name is due (clock ms), after the last update; undefined if none is absent. */
  private nextDueAt: number | undefined;

  constructor(options: RetirementOptions = {}) {
    this.retireAfterMs = options.retireAfterMs ?? RETIRE_AFTER_MS;
    this.clock = options.clock ?? monotonicClock;
  }

  /** Takes the names present now (a Map or Set); returns those absent for retireAfterMs or longer, each once. */
  update(present: ReadonlyMap<string, unknown> | ReadonlySet<string>): string[] {
    const now = this.clock();
    for (const name of present.keys()) this.absentSince.set(name, undefined);
    const gone: string[] = [];
    let next: number | undefined;
    for (const [name, since] of this.absentSince) {
      if (present.has(name)) continue;
      if (since === undefined) this.absentSince.set(name, now);
      const due = (since ?? now) + this.retireAfterMs;
      if (due <= now) {
        this.absentSince.delete(name);
        gone.push(name);
      } else if (next === undefined || due < next) {
        next = due;
      }
    }
    this.nextDueAt = next;
    return gone;
  }

  /** Milliseconds until nextDueAt (0 if already due); undefined if nothing is absent. */
  msUntilNextDue(): number | undefined {
    return this.nextDueAt === undefined ? undefined : Math.max(0, this.nextDueAt - this.clock());
  }
}
