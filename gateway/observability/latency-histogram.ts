// The latency histogram layout of the golden metrics: log-spaced buckets, four per doubling, from 50 µs
// to about 100 s (bucket 0 holds everything at or below 50 µs, the last everything above 100 s). A bucket
// index is one Math.log2, so recording costs no allocation and no search; a quantile read back from it
// is within one bucket width (±19%) of the true value.

/** Upper bound of bucket 0, seconds. */
export const MIN_LATENCY_SECONDS = 0.00005;
/** Buckets per doubling of latency. */
export const BUCKETS_PER_DOUBLING = 4;
/** Number of buckets: 0 .. 21 doublings above the minimum, plus the overflow bucket. */
export const LATENCY_BUCKETS = 21 * BUCKETS_PER_DOUBLING + 2;

/** The bucket a latency falls into; NaN, negative and tiny values go to bucket 0. */
export function bucketOf(seconds: number): number {
  if (!(seconds > MIN_LATENCY_SECONDS)) return 0;
  const index = Math.ceil(Math.log2(seconds / MIN_LATENCY_SECONDS) * BUCKETS_PER_DOUBLING);
  return index >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : index;
}

/** Upper bound of a bucket, seconds (Infinity for the overflow bucket). */
export function upperBoundOf(bucket: number): number {
  if (bucket >= LATENCY_BUCKETS - 1) return Infinity;
  return MIN_LATENCY_SECONDS * 2 ** (bucket / BUCKETS_PER_DOUBLING);
}

/** Lower bound of a bucket, seconds. */
export function lowerBoundOf(bucket: number): number {
  return bucket === 0 ? 0 : upperBoundOf(bucket - 1);
}

/**
 * The q-quantile (0 < q ≤ 1) of `total` observations whose per-bucket counts are `counts`, interpolated
 * geometrically inside the bucket that holds it. NaN when there are no observations.
 */
export function quantileOf(counts: ArrayLike<number>, total: number, q: number): number {
  if (total <= 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
    const inBucket = counts[bucket] ?? 0;
    if (inBucket === 0) continue;
    if (seen + inBucket >= rank) {
      const upper = upperBoundOf(bucket);
      // The overflow bucket has no upper bound: report its lower bound (a floor, not a guess).
      if (upper === Infinity) return lowerBoundOf(bucket);
      const lower = bucket === 0 ? upper / 2 : lowerBoundOf(bucket);
      const fraction = (rank - seen) / inBucket;
      return lower * (upper / lower) ** fraction;
    }
    seen += inBucket;
  }
  return lowerBoundOf(LATENCY_BUCKETS - 1);
}
