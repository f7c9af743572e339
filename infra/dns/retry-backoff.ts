// Retries a provider call on throttling and transient failures with capped exponential backoff and full
// jitter (the AWS SDKs' scheme), so a throttled publisher backs off instead of hammering the API.
import type { DnsClock } from './dns-clock.js';

export interface BackoffPolicy {
  /** Total attempts including the first; default 6. */
  readonly maxAttempts?: number;
  /** Default 200. */
  readonly baseDelayMs?: number;
  /** Default 10000. */
  readonly maxDelayMs?: number;
  /** Returns [0, 1); default Math.random. Tests pin it. */
  readonly random?: () => number;
}

/**
 * Runs `attempt` until it succeeds, `retryable(err)` is false, or attempts run out; then rethrows the last
 * error. Each retry waits a random time in [delay/2, delay], delay = min(max, base × 2^(n-1)).
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  retryable: (err: unknown) => boolean,
  clock: DnsClock,
  policy: BackoffPolicy = {},
  signal?: AbortSignal,
): Promise<T> {
  const maxAttempts = policy.maxAttempts ?? 6;
  const base = policy.baseDelayMs ?? 200;
  const cap = policy.maxDelayMs ?? 10_000;
  const random = policy.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= maxAttempts || !retryable(err) || signal?.aborted) throw err;
      const delay = Math.min(cap, base * 2 ** (n - 1));
      await clock.sleep(Math.round(delay / 2 + (delay / 2) * random()), signal);
    }
  }
}
