// A retry budget (Finagle/Linkerd style): over a sliding window, retries may add `ratio` of the requests
// seen plus `minRetriesPerSecond` whatever the traffic, so a failover cannot turn into a retry storm that
// double-loads the surviving cluster. One budget per service. The window is a ring of ten buckets, so
// recording is O(1) and the budget forgets old traffic smoothly. Pure; time from the injected clock.
import { monotonicClock, type Clock } from './clock.js';
import type { RetryBudgetConfig } from '../config/index.js';

const BUCKETS = 10;

export interface RetryBudgetOptions extends RetryBudgetConfig {
  readonly now?: Clock;
}

export interface RetryBudgetState {
  /** Original requests in the window. */
  readonly requests: number;
  /** Retries spent in the window. */
  readonly retries: number;
  /** Retries that may still be spent now. */
  readonly remaining: number;
  /** Retries refused since start. */
  readonly denied: number;
}

export class RetryBudget {
  private readonly options: RetryBudgetConfig;
  private readonly now: Clock;
  private readonly bucketMs: number;
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  /** Index of the bucket `current` covers; buckets are [index × bucketMs, (index + 1) × bucketMs). */
  private epoch: number;
  private requestSum = 0;
  private retrySum = 0;
  private deniedCount = 0;

  constructor(options: RetryBudgetOptions) {
    this.options = options;
    this.now = options.now ?? monotonicClock;
    this.bucketMs = options.windowMs / BUCKETS;
    this.epoch = Math.floor(this.now() / this.bucketMs);
  }

  /** Counts an original request (never a retry). */
  recordRequest(): void {
    const at = this.advance();
    this.requests[at] = (this.requests[at] ?? 0) + 1;
    this.requestSum++;
  }

  /** Spends one retry if the budget allows; false means "do not retry". */
  tryRetry(): boolean {
    const at = this.advance();
    if (this.retrySum + 1 > this.allowance()) {
      this.deniedCount++;
      return false;
    }
    this.retries[at] = (this.retries[at] ?? 0) + 1;
    this.retrySum++;
    return true;
  }

  state(): RetryBudgetState {
    this.advance();
    return {
      requests: this.requestSum,
      retries: this.retrySum,
      remaining: Math.max(0, Math.floor(this.allowance() - this.retrySum)),
      denied: this.deniedCount,
    };
  }

  private allowance(): number {
    const { ratio, minRetriesPerSecond, windowMs } = this.options;
    return ratio * this.requestSum + (minRetriesPerSecond * windowMs) / 1000;
  }

  /** Moves the window to now, emptying buckets that fell out; returns the current bucket's index. */
  private advance(): number {
    const epoch = Math.floor(this.now() / this.bucketMs);
    const steps = Math.min(epoch - this.epoch, BUCKETS);
    for (let i = 1; i <= steps; i++) {
      const at = (this.epoch + i) % BUCKETS;
      this.requestSum -= this.requests[at] ?? 0;
      this.retrySum -= this.retries[at] ?? 0;
      this.requests[at] = 0;
      this.retries[at] = 0;
    }
    if (epoch > this.epoch) this.epoch = epoch;
    return this.epoch % BUCKETS;
  }
}
