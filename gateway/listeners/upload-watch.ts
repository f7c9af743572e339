// While a request body is still arriving, the request timeout does not run: it counts from the end of the
// request, as Envoy's route timeout does, so an upload may take as long as it flows. What bounds it
// instead is progress, as Envoy's stream idle timeout does: a body that moves no byte for the timeout —
// the caller stopped sending, or the upstream stopped reading — ends the request.
import type { Readable } from 'node:stream';

export interface UploadWatcher {
  /** The whole body was read: the request timeout starts now. */
  bodyEnded(): void;
  /**
   * No byte of the body moved for the timeout (detected within twice the timeout), or, `unread`, no try
   * has started reading it within the timeout (it waits for a connection or a circuit-breaker slot).
   * `timeoutMs` is the watch's period.
   */
  uploadStalled(unread: boolean, timeoutMs: number): void;
}

export class UploadWatch {
  private readonly body: Readable;
  private readonly watcher: UploadWatcher;
  private readonly timer: NodeJS.Timeout;
  private readonly timeoutMs: number;
  /** Bytes seen since counting began; -1 until then. */
  private moved = -1;
  private movedAtLastCheck = 0;

  constructor(body: Readable, timeoutMs: number, watcher: UploadWatcher) {
    this.body = body;
    this.watcher = watcher;
    this.timeoutMs = timeoutMs;
    body.once('end', this.onEnd);
    this.timer = setTimeout(this.check, timeoutMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.body.off('end', this.onEnd);
    this.body.off('data', this.onData);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.moved += chunk.length;
  };

  private readonly onEnd = (): void => {
    this.stop();
    this.watcher.bodyEnded();
  };

  /**
   * Bytes are counted with a 'data' listener, which would start a stream nobody reads yet; so counting
   * begins at the first check, once a try reads the body, and a stall is judged over the period after.
   */
  private readonly check = (): void => {
    const body = this.body;
    if (this.moved < 0 && body.readableFlowing !== null) {
      this.moved = 0;
      body.on('data', this.onData);
      this.timer.refresh();
      return;
    }
    if (this.moved > this.movedAtLastCheck) {
      this.movedAtLastCheck = this.moved;
      this.timer.refresh();
      return;
    }
    this.stop();
    this.watcher.uploadStalled(this.moved < 0, this.timeoutMs);
  };
}
