// The streams whose answer has begun, watched for progress: the stream idle timeout (Envoy's
// stream_idle_timeout). An answer that moves no byte either way for its service's `timeouts.idle` (an
// upstream that stopped sending mid-body, a caller that stopped reading, so that backpressure holds the
// upstream) is cut, freeing the stream, its upstream connection and its circuit-breaker slot.
// Periodic sweeps over the watched streams, not a timer per stream: most answers end within the
// event-loop turn that began them, and watching one costs a set insertion and deletion. A sweep runs
// every quarter of the shortest idle timeout watched (at most a second apart). A stream's stillness is
// counted from the first sweep that sees it unchanged, so it is cut between its timeout and two sweeps
// more after its last byte (half a timeout more, or two seconds for timeouts over 4 s).

/** A stream under watch. The sweeps keep their own marks on it, so that watching allocates nothing. */
export interface IdleWatched {
  /** Bumped whenever a chunk moves, either way. */
  readonly moved: number;
  /** Its service's idle timeout, > 0. */
  readonly idleMs: number;
  /** `moved` as the last sweep saw it, and since when it has not changed; -1 until a sweep saw it. */
  movedAtSweep: number;
  stillSinceMs: number;
  /** Nothing moved for `idleMs`: cut the stream. It is no longer watched. */
  idleTimedOut(): void;
}

const MAX_SWEEP_MS = 1_000;
const MIN_SWEEP_MS = 50;

export class IdleStreams {
  private readonly watched = new Set<IdleWatched>();
  private timer: NodeJS.Timeout | undefined;
  private sweepMs = 0;

  /** Per answer, and most end within the same tick: no clock read here, a set insertion at most. */
  watch(stream: IdleWatched): void {
    stream.stillSinceMs = -1;
    this.watched.add(stream);
    const idleMs = stream.idleMs;
    if (this.timer === undefined || idleMs < this.sweepMs * 4) this.sweepEvery(idleMs / 4);
  }

  unwatch(stream: IdleWatched): void {
    this.watched.delete(stream);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private sweepEvery(wantedMs: number): void {
    const sweepMs = Math.min(MAX_SWEEP_MS, Math.max(MIN_SWEEP_MS, wantedMs));
    if (this.timer !== undefined && sweepMs >= this.sweepMs) return;
    clearInterval(this.timer);
    this.sweepMs = sweepMs;
    this.timer = setInterval(this.sweep, sweepMs);
    this.timer.unref();
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    for (const stream of this.watched) {
      if (stream.stillSinceMs < 0 || stream.moved !== stream.movedAtSweep) {
        stream.movedAtSweep = stream.moved;
        stream.stillSinceMs = now;
      } else if (now - stream.stillSinceMs >= stream.idleMs) {
        this.watched.delete(stream);
        stream.idleTimedOut();
      }
    }
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
