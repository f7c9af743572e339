// The rise/fall state machine shared by endpoint checks and peer-gateway probes. A target starts
// 'unknown' and counts as healthy (a restart must not pull every endpoint out of the fabric); `fall`
// failures in a row make it unhealthy, `rise` successes in a row make it healthy again; the first
// success confirms an unknown target at once. A state can carry over to new thresholds.
export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy';

/** What one result changed: the routing answer flipped, or only unknown became healthy. */
export type HealthTransition = 'down' | 'up' | 'confirmed' | undefined;

export class RiseFall {
  status: HealthStatus = 'unknown';
  successes = 0;
  failures = 0;
  private readonly rise: number;
  private readonly fall: number;

  /** `from`: the state so far, kept when only the thresholds or timings of a check change. */
  constructor(rise: number, fall: number, from?: RiseFall) {
    this.rise = rise;
    this.fall = fall;
    if (from) {
      this.status = from.status;
      this.successes = from.successes;
      this.failures = from.failures;
    }
  }

  /** Whether to send traffic: anything but unhealthy. */
  get healthy(): boolean {
    return this.status !== 'unhealthy';
  }

  record(ok: boolean): HealthTransition {
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (this.status === 'unknown') {
        this.status = 'healthy';
        return 'confirmed';
      }
      if (this.status === 'unhealthy' && this.successes >= this.rise) {
        this.status = 'healthy';
        return 'up';
      }
      return undefined;
    }
    this.successes = 0;
    this.failures++;
    if (this.status !== 'unhealthy' && this.failures >= this.fall) {
      this.status = 'unhealthy';
      return 'down';
    }
    return undefined;
  }
}
