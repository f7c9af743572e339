// The time at which leases are judged. While the registry is in contact with Redis it is the local
// clock (capped a little past the last successful read, so a silently frozen Redis cannot age every
// lease); when contact is lost it freezes: a lease that cannot be renewed proves nothing about its
// gateway, so the last snapshot stays as it was until Redis answers again.

export class ContactClock {
  private lastContactAt: number | undefined;
  private connected = false;
  private frozenAt: number;

  constructor(
    private readonly now: () => number,
    private readonly graceMs: number,
  ) {
    this.frozenAt = now();
  }

  /** A read from Redis succeeded. */
  contact(): void {
    this.lastContactAt = this.now();
  }

  /** Local time of the last successful read; undefined before the first. */
  get lastContact(): number | undefined {
    return this.lastContactAt;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  setConnected(connected: boolean): void {
    if (this.connected && !connected) this.frozenAt = this.evalNow();
    if (connected) this.contact();
    this.connected = connected;
  }

  /** Freezes evaluation at `at` (a snapshot restored from disk is judged as of its loading). */
  freezeAt(at: number): void {
    this.connected = false;
    this.frozenAt = at;
  }

  evalNow(): number {
    if (!this.connected) return this.frozenAt;
    const now = this.now();
    return this.lastContactAt === undefined ? now : Math.min(now, this.lastContactAt + this.graceMs);
  }
}
