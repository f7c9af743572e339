// Spaces requests to a provider API so one publisher stays under its rate limit (Route 53: 5 requests per
// second per AWS account, shared with every other tool in the account). Time and sleeping are injected.
import type { DnsClock } from './dns-clock.js';

export class RequestPacer {
  private readonly gapMs: number;
  private readonly clock: DnsClock;
  private nextAt = 0;

  constructor(requestsPerSecond: number, clock: DnsClock) {
    this.gapMs = requestsPerSecond > 0 ? 1000 / requestsPerSecond : 0;
    this.clock = clock;
  }

  /** Resolves when the next request may go out; callers are served in call order. */
  async take(signal?: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + this.gapMs;
    if (at > now) await this.clock.sleep(at - now, signal);
  }
}
