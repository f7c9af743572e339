// Notices when any of a few files may have changed: fs.watch on their directories (fast, but lossy on
// some filesystems and blind to some atomic swaps) plus a periodic stat of each file (slow, but always
// works). Bursts of events are coalesced: the callback runs once the files have been quiet for
// `settleMs`. The callback only hints "look again"; the owner compares contents itself.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface FileChangeWatcherOptions {
  readonly paths: readonly string[];
  /** Interval of the stat fallback. */
  readonly pollIntervalMs: number;
  /** False: poll only. */
  readonly useFsWatch: boolean;
  /** Quiet time after the last event before `onChange` runs. */
  readonly settleMs: number;
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
      for (const dir of new Set(this.options.paths.map((path) => dirname(path)))) this.watchDirectory(dir);
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

  private watchDirectory(dir: string): void {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, () => this.schedule());
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
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (!this.closed) this.options.onChange();
    }, this.options.settleMs);
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
