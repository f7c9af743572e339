// Exponential backoff with jitter for the registry's retry loops, and an abortable, unref()'d sleep
// that can also be cut short (`wake`) when the Redis client reports it is ready again.

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

export class Backoff {
  private attempt = 0;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}

  reset(): void {
    this.attempt = 0;
  }

  /** The delay the next wait() would use, without jitter. */
  get nextDelayMs(): number {
    return Math.min(this.initialMs * 2 ** this.attempt, this.maxMs);
  }

  /** Waits the next delay (50–100 % of it), or until wake() or abort. */
  async wait(signal: AbortSignal): Promise<void> {
    const delay = this.nextDelayMs * (0.5 + Math.random() / 2);
    this.attempt = Math.min(this.attempt + 1, 30);
    const controller = new AbortController();
    const forward = () => controller.abort();
    signal.addEventListener('abort', forward, { once: true });
    this.wakeUp = forward;
    try {
      await sleep(delay, controller.signal);
    } finally {
      this.wakeUp = undefined;
      signal.removeEventListener('abort', forward);
    }
  }

  /** Ends a wait in progress early (e.g. the connection is ready again). */
  wake(): void {
    this.wakeUp?.();
  }
}
