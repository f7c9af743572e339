// Exponential reconnect backoff with full jitter: after n consecutive failures wait a random time in
// [delay/2, delay] where delay = min(maxMs, baseMs · 2^(n-1)). Pure apart from the injected random.

export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, maxMs: 5_000 };

export function backoffDelayMs(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  if (failures <= 0) return 0;
  const delay = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures - 1, 20));
  return Math.round(delay / 2 + (random() * delay) / 2);
}
