// Envoy-style circuit breaking for one (service, destination cluster): at most maxConcurrent requests in
// flight, at most maxPending more waiting for a slot; beyond that a request is refused at once (503
// OVERLOADED) instead of piling up on a struggling cluster. The fast path is a counter; only requests
// that must wait allocate anything. Pure: no timers; waiting ends when a slot frees or the signal aborts.
export type Admission = 'admitted' | 'queued' | 'rejected';

/**
 * Told once: granted=true with the slot taken (release it later), false when aborted while waiting.
 * An object, not a callback, so that a request can wait without allocating a closure on the way in.
 */
export interface SlotWaiter {
  slotGranted(granted: boolean): void;
}

export interface CircuitBreakerLimits {
  readonly maxConcurrent: number;
  readonly maxPending: number;
}

export interface CircuitBreakerState {
  readonly active: number;
  readonly pending: number;
  /** At its concurrency limit now (Envoy's "open" gauge). */
  readonly open: boolean;
  /** Requests refused since start. */
  readonly rejected: number;
}

interface Waiting {
  readonly waiter: SlotWaiter;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

export class CircuitBreaker {
  private limits: CircuitBreakerLimits;
  private active = 0;
  private readonly waiting = new Set<Waiting>();
  private rejectedCount = 0;

  constructor(limits: CircuitBreakerLimits) {
    this.limits = limits;
  }

  /**
   * 'admitted': the slot is taken now and `waiter` is not told. 'queued': `waiter` is told later,
   * synchronously inside another request's `release()`, or with false if `signal` aborts first.
   * 'rejected': nothing was taken. Every admitted or granted request must call `release()` exactly once.
   */
  acquire(waiter: SlotWaiter, signal?: AbortSignal): Admission {
    if (this.active < this.limits.maxConcurrent) {
      this.active++;
      return 'admitted';
    }
    if (this.waiting.size >= this.limits.maxPending || signal?.aborted) {
      this.rejectedCount++;
      return 'rejected';
    }
    let entry: Waiting;
    if (signal) {
      const onAbort = () => {
        if (this.waiting.delete(entry)) waiter.slotGranted(false);
      };
      entry = { waiter, signal, onAbort };
      signal.addEventListener('abort', onAbort, { once: true });
    } else {
      entry = { waiter, signal: undefined, onAbort: undefined };
    }
    this.waiting.add(entry);
    return 'queued';
  }

  /**
   * `waiter` no longer wants its slot (its caller went away or its request timed out): it leaves the
   * queue, is not told, and its place counts no more against maxPending.
   */
  withdraw(waiter: SlotWaiter): void {
    for (const entry of this.waiting) {
      if (entry.waiter !== waiter) continue;
      this.waiting.delete(entry);
      if (entry.signal && entry.onAbort) entry.signal.removeEventListener('abort', entry.onAbort);
      return;
    }
  }

  /** Whether a request asking now would be refused: every slot taken and the queue full. */
  full(): boolean {
    return this.active >= this.limits.maxConcurrent && this.waiting.size >= this.limits.maxPending;
  }

  /** Frees a slot: hands it to the oldest waiter, if any. */
  release(): void {
    if (this.active <= this.limits.maxConcurrent && this.grantNext()) return;
    this.active--;
  }

  /** New limits (config reload); requests in flight finish, new ones see the new limits. */
  updateLimits(limits: CircuitBreakerLimits): void {
    this.limits = limits;
    while (this.active < limits.maxConcurrent && this.waiting.size > 0) {
      this.active++;
      this.grantNext();
    }
  }

  private grantNext(): boolean {
    for (const entry of this.waiting) {
      this.waiting.delete(entry);
      if (entry.signal && entry.onAbort) entry.signal.removeEventListener('abort', entry.onAbort);
      entry.waiter.slotGranted(true);
      return true;
    }
    return false;
  }

  state(): CircuitBreakerState {
    return {
      active: this.active,
      pending: this.waiting.size,
      open: this.active >= this.limits.maxConcurrent,
      rejected: this.rejectedCount,
    };
  }
}
