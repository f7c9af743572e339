// Notices when any of a few files may have changed: fs.watch on their directories (fast, but lossy on
// some filesystems and blind to some atomic swaps) plus a periodic stat of each file (slow, but always
// works). Events for other files in those directories are ignored (but Kubernetes' `..data` swaps). Bursts of events are coalesced: the
// callback runs once the files have been quiet for `settleMs`, or `maxWaitMs` after the first event of
// a burst that never goes quiet. The callback only hints "look again"; the owner compares contents itself.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface FileChangeWatcherOptions {
  readonly paths: readonly string[];
  /** Interval of the stat fallback. */
  readonly pollIntervalMs: number;
  /** False: poll only. */
  readonly useFsWatch: boolean;
  /** Quiet time after the last event before `onChange` runs. */
  readonly settleMs: number;
  /** The longest a burst of events postpones `onChange`, counted from its first event. */
  readonly maxWaitMs: number;
  /** Runs on the timer, never re-entrantly with itself; must not throw. */
  readonly onChange: () => void;
  /** A directory watch failed; the stat fallback keeps going. */
  readonly onWatchError: (dir: string, err: Error) => void;
}

export class FileChangeWatcher {
  private readonly options: FileChangeWatcherOptions;
  private readonly watchers: FSWatcher[] = [];
  private readonly signatures = new Map<string, string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the first event since `onChange` last ran. */
  private burstStartedAt: number | undefined;
  private polling = false;
  private closed = false;

  constructor(options: FileChangeWatcherOptions) {
    this.options = options;
  }

  /** Records the files' current state and starts watching. */
  async start(): Promise<void> {
    for (const path of this.options.paths) this.signatures.set(path, await signatureOf(path));
    if (this.closed) return;
    if (this.options.useFsWatch) {
      for (const dir of new Set(this.options.paths.map((path) => dirname(path)))) {
        const names = new Set(
          this.options.paths.filter((path) => dirname(path) === dir).map((path) => basename(path)),
        );
        this.watchDirectory(dir, names);
      }
    }
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** Stops every watch and timer; idempotent. */
  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.splice(0)) watcher.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.settleTimer);
  }

  /**
   * Watches `dir` for changes to the files called `names`. An event without a file name may be one, and so
   * may one for a name starting with `..`: Kubernetes swaps a secret volume's `..data` link, and the
   * watched names are links through it.
   */
  private watchDirectory(dir: string, names: ReadonlySet<string>): void {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || names.has(name) || name.startsWith('..')) this.schedule();
      });
    } catch (err) {
      this.options.onWatchError(dir, err as Error);
      return;
    }
    watcher.on('error', (err) => {
      watcher.close();
      this.options.onWatchError(dir, err);
    });
    this.watchers.push(watcher);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      let changed = false;
      for (const path of this.options.paths) {
        const signature = await signatureOf(path);
        if (this.signatures.get(path) !== signature) changed = true;
        this.signatures.set(path, signature);
      }
      if (changed) this.schedule();
    } finally {
      this.polling = false;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    const now = performance.now();
    this.burstStartedAt ??= now;
    const delayMs = Math.min(this.options.settleMs, this.burstStartedAt + this.options.maxWaitMs - now);
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(
      () => {
        this.burstStartedAt = undefined;
        if (!this.closed) this.options.onChange();
      },
      Math.max(delayMs, 0),
    );
    this.settleTimer.unref();
  }
}

async function signatureOf(path: string): Promise<string> {
  try {
    const info = await stat(path);
    return `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}
