// The time source of the resilience modules: milliseconds from a monotonic clock, injected so tests
// drive ejections, windows, hold-downs and ramps without sleeping.

/** Milliseconds; only differences are meaningful. */
export type Clock = () => number;

export const monotonicClock: Clock = () => performance.now();
