// The Redis server clock as seen from here: the offset between TIME on the server and the local clock,
// measured (round-trip midpoint) whenever a script returns the server time. Lease scores are stamped
// and compared on the server clock, so gateways with skewed clocks agree on who is alive.

export class ServerClock {
  private offsetMs = 0;
  private observed = false;

  constructor(readonly now: () => number) {}

  /** Records a server time read by a request sent at `sentAt` and answered at `receivedAt` (local). */
  observe(serverNowMs: number, sentAt: number, receivedAt: number): void {
    this.offsetMs = serverNowMs - (sentAt + receivedAt) / 2;
    this.observed = true;
  }

  /** Best estimate of the server's current time; the local time before any observation. */
  serverNow(): number {
    return this.now() + (this.observed ? this.offsetMs : 0);
  }

  /** Local minus server clock, ms (positive: this host is ahead). */
  get skewMs(): number {
    return -this.offsetMs;
  }
}
