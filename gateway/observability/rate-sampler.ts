// Deterministic sampling at a fixed rate, for the data path: rate r says yes to exactly one call in 1/r
// over any long run, with no random numbers and no allocation (a comparison and an addition). Used for
// access log lines and for the sampled flag of traces the gateway starts.

export class RateSampler {
  /** The rate asked for, clamped to 0..1 (NaN and other non-finite values read as 0). */
  readonly rate: number;
  /** In parts per million, so that rates like 0.1 add up exactly. */
  private readonly ratePpm: number;
  private creditPpm = 0;

  constructor(rate: number) {
    this.rate = Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 0;
    this.ratePpm = Math.round(this.rate * 1_000_000);
  }

  /** True when this call is one of the sampled ones. Call once per decision. */
  sampled(): boolean {
    if (this.ratePpm === 0) return false;
    this.creditPpm += this.ratePpm;
    if (this.creditPpm < 1_000_000) return false;
    this.creditPpm -= 1_000_000;
    return true;
  }
}
