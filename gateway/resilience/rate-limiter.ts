// A local rate limit for one service (Envoy's local_ratelimit): a token bucket refilled at
// requestsPerSecond up to burst. Requests over the limit are refused at once (429 with Retry-After).
// Pure: refills lazily from the injected clock, so an idle limiter costs nothing.
import { GatewayError } from '../errors.js';
import { monotonicClock, type Clock } from './clock.js';
import type { RateLimitConfig } from '../config/index.js';

export interface RateLimiterOptions extends RateLimitConfig {
  readonly now?: Clock;
}

/** The answer to a request over `limiter`, `service`'s local rate limit: when to come back, and why. */
export function rateLimitedError(service: string, limiter: RateLimiter): GatewayError {
  const retryAfterMs = limiter.retryAfterMs();
  return new GatewayError(
    'RATE_LIMITED',
    `service ${service} is over its local rate limit of ${limiter.requestsPerSecond} requests/s (burst ${limiter.burst}); next request allowed in ${retryAfterMs} ms`,
    { retryAfterMs },
  );
}

export class RateLimiter {
  readonly requestsPerSecond: number;
  readonly burst: number;
  private readonly perMs: number;
  private readonly now: Clock;
  private tokens: number;
  private refilledAt: number;
  /** Requests refused since start. */
  limited = 0;

  constructor(options: RateLimiterOptions) {
    this.requestsPerSecond = options.requestsPerSecond;
    this.perMs = options.requestsPerSecond / 1000;
    this.burst = options.burst;
    this.now = options.now ?? monotonicClock;
    this.tokens = options.burst;
    this.refilledAt = this.now();
  }

  /** Takes a token if one is there. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.limited++;
    return false;
  }

  /** How long until a token is there (0 when one is now), for Retry-After. */
  retryAfterMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.perMs);
  }

  private refill(): void {
    const now = this.now();
    const elapsed = now - this.refilledAt;
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.perMs);
    this.refilledAt = now;
  }
}
