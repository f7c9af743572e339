// A gateway's own TLS material (CA bundle, certificate chain, key), loaded from disk, validated, and
// reloaded when the files change, without touching established connections: servers get the new
// material via `server.setSecureContext(material.tlsOptions())` from a subscriber, clients pass
// `material.secureContext()` per connection, so only new handshakes see a rotated certificate.
// A bad new file never replaces good material: the old one stays and the error is reported.
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { InfraError } from '../errors.js';
import { readFileBytes } from './file-access.js';
import { FileChangeWatcher } from './file-change-watcher.js';
import type { TlsFilePaths } from './gateway-files.js';
import type { GatewayIdentity } from './spiffe-id.js';
import { checkTlsMaterial, NotYetValidError, type CheckedTlsMaterial } from './tls-material-check.js';

export const DEFAULT_TLS_POLL_INTERVAL_MS = 10_000;
export const DEFAULT_TLS_SETTLE_MS = 200;
/** However often the files are written, a change is read no later than this after it. */
const MAX_SETTLE_WAIT_MS = 1000;
/** How long after a certificate's notBefore the files are read again, so the clock is surely past it. */
const NOT_YET_VALID_MARGIN_MS = 250;
/** The longest one wait for a notBefore (setTimeout's own limit is 24.8 days); a later one waits again. */
const MAX_NOT_YET_VALID_WAIT_MS = 86_400_000;

export interface TlsMaterialOptions extends TlsFilePaths {
  /** When set, the certificate must prove this gateway identity (on start and on every reload). */
  readonly expectedIdentity?: GatewayIdentity;
  /** Stat fallback for filesystems where fs.watch misses changes; default 10 s. */
  readonly pollIntervalMs?: number;
  /** Watch directories with fs.watch as well as polling; set false where inotify does not work (NFS). Default true. */
  readonly useFsWatch?: boolean;
  /** Quiet time after a change before reloading, so cert and key written together load together; default 200 ms. */
  readonly settleMs?: number;
  /** Clock for expiry checks, ms since the epoch. */
  readonly now?: () => number;
}

/** One validated, immutable generation of TLS material. */
export interface TlsMaterialSnapshot extends CheckedTlsMaterial {
  /** TLS 1.3-only context for `tls.connect({ secureContext })`. */
  readonly secureContext: SecureContext;
  /** Options for `tls.createServer()` / `server.setSecureContext()`: ca, cert, key, minVersion TLSv1.3. */
  readonly tlsOptions: Readonly<SecureContextOptions>;
}

export type TlsReloadOutcome = 'swapped' | 'unchanged' | InfraError;

export type TlsMaterialListener = (material: TlsMaterialSnapshot) => void;
export type TlsMaterialErrorListener = (err: InfraError) => void;

export class TlsMaterial {
  readonly paths: TlsFilePaths;
  private readonly options: TlsMaterialOptions;
  private readonly now: () => number;
  private readonly listeners = new Set<TlsMaterialListener>();
  private readonly errorListeners = new Set<TlsMaterialErrorListener>();
  private watcher: FileChangeWatcher | undefined;
  private snapshot: TlsMaterialSnapshot | undefined;
  private failure: InfraError | undefined;
  /** The files behind `failure`, so one bad write is reported once. */
  private rejected: PemFiles | undefined;
  /** Files refused only because a certificate is not valid yet, and the timer that reads them again then. */
  private waiting: { files: PemFiles; timer: NodeJS.Timeout } | undefined;
  private inFlight: Promise<TlsReloadOutcome> | undefined;
  private rerun = false;
  private closed = false;

  /** No I/O here; `start()` loads. */
  constructor(options: TlsMaterialOptions) {
    this.options = options;
    this.paths = { ca: options.ca, cert: options.cert, key: options.key };
    this.now = options.now ?? Date.now;
  }

  /**
   * Loads and validates the files (throwing InfraError CERT_IO / CERT_INVALID), then starts watching.
   * A second call after success does nothing.
   */
  async start(): Promise<void> {
    if (this.closed) throw new Error('TlsMaterial was closed');
    if (this.snapshot) return;
    this.snapshot = this.build(await this.readFiles());
    const watcher = new FileChangeWatcher({
      paths: [this.paths.ca, this.paths.cert, this.paths.key],
      pollIntervalMs: this.options.pollIntervalMs ?? DEFAULT_TLS_POLL_INTERVAL_MS,
      settleMs: this.options.settleMs ?? DEFAULT_TLS_SETTLE_MS,
      maxWaitMs: MAX_SETTLE_WAIT_MS,
      useFsWatch: this.options.useFsWatch ?? true,
      onChange: () => void this.reload(),
      onWatchError: (dir, err) =>
        this.report(
          new InfraError('CERT_IO', `cannot watch ${dir} (${err.message}); polling only`, { cause: err }),
        ),
    });
    this.watcher = watcher;
    await watcher.start();
    if (this.closed) watcher.close();
  }

  /** The material in use. Throws before a successful `start()`. */
  current(): TlsMaterialSnapshot {
    if (!this.snapshot) throw new Error('TlsMaterial.current() called before start()');
    return this.snapshot;
  }

  secureContext(): SecureContext {
    return this.current().secureContext;
  }

  tlsOptions(): Readonly<SecureContextOptions> {
    return this.current().tlsOptions;
  }

  get notAfter(): Date {
    return this.current().notAfter;
  }

  /** The error of the last reload attempt, cleared when the files on disk are good again. */
  get lastError(): InfraError | undefined {
    return this.failure;
  }

  /** `listener` runs after each swap with the new material. Returns an unsubscribe function. */
  subscribe(listener: TlsMaterialListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** `listener` runs when a reload is rejected (the old material stays) or watching fails. */
  onError(listener: TlsMaterialErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /**
   * Re-reads the files now (the watcher calls this; so can a SIGHUP handler). Never throws: resolves
   * 'swapped', 'unchanged', or the error that kept the old material. Calls during a reload coalesce
   * into one more pass after it.
   */
  reload(): Promise<TlsReloadOutcome> {
    if (this.inFlight) {
      this.rerun = true;
      return this.inFlight;
    }
    const run = async (): Promise<TlsReloadOutcome> => {
      let outcome: TlsReloadOutcome;
      let swapped = false;
      do {
        this.rerun = false;
        outcome = await this.reloadOnce();
        if (outcome === 'swapped') swapped = true;
      } while (this.rerun && !this.closed);
      return outcome === 'unchanged' && swapped ? 'swapped' : outcome;
    };
    this.inFlight = run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Stops watching; the current material stays readable. Idempotent. */
  close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    this.stopWaiting();
    this.listeners.clear();
    this.errorListeners.clear();
    return Promise.resolve();
  }

  private async reloadOnce(): Promise<TlsReloadOutcome> {
    if (this.closed || !this.snapshot) return 'unchanged';
    const waitedFor = this.stopWaiting();
    let files: PemFiles;
    try {
      files = await this.readFiles();
    } catch (err) {
      return this.reject(asInfraError(err), undefined);
    }
    if (samePem(files, this.snapshot)) {
      this.failure = undefined;
      this.rejected = undefined;
      return 'unchanged';
    }
    // The same bad bytes seen again (a watch event and a poll for one write): already reported.
    if (this.failure && this.rejected && samePem(files, this.rejected)) return this.failure;
    let next: TlsMaterialSnapshot;
    try {
      next = this.build(files);
    } catch (err) {
      if (err instanceof NotYetValidError && !this.closed) return this.waitUntilValid(err, files, waitedFor);
      return this.reject(asInfraError(err), files);
    }
    if (this.closed) return 'unchanged';
    this.failure = undefined;
    this.rejected = undefined;
    this.snapshot = next;
    for (const listener of [...this.listeners]) {
      try {
        listener(next);
      } catch (err) {
        process.emitWarning(`a TLS material subscriber threw: ${String(err)}`, 'WeftWarning');
      }
    }
    return 'swapped';
  }

  private async readFiles(): Promise<PemFiles> {
    const [ca, cert, key] = await Promise.all([
      readFileBytes(this.paths.ca),
      readFileBytes(this.paths.cert),
      readFileBytes(this.paths.key),
    ]);
    return { ca, cert, key };
  }

  /** Validates the files and builds the TLS context; throws InfraError CERT_INVALID. */
  private build(files: PemFiles): TlsMaterialSnapshot {
    const checked = checkTlsMaterial(
      { paths: this.paths, ...files },
      this.now(),
      this.options.expectedIdentity,
    );
    const tlsOptions: SecureContextOptions = Object.freeze({ ...files, minVersion: 'TLSv1.3' });
    let secureContext: SecureContext;
    try {
      secureContext = createSecureContext(tlsOptions);
    } catch (err) {
      throw new InfraError(
        'CERT_INVALID',
        `${this.paths.cert} / ${this.paths.key} rejected by TLS: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return Object.freeze({ ...checked, secureContext, tlsOptions });
  }

  /**
   * Keeps the old material and reads the files again once the certificate is valid: no watch event would
   * come, as the files do not change. Not cached like other rejections, and reported once per files.
   */
  private waitUntilValid(
    err: NotYetValidError,
    files: PemFiles,
    waitedFor: PemFiles | undefined,
  ): InfraError {
    const delayMs = Math.min(
      err.validFromMs - this.now() + NOT_YET_VALID_MARGIN_MS,
      MAX_NOT_YET_VALID_WAIT_MS,
    );
    const timer = setTimeout(() => void this.reload(), Math.max(delayMs, 0));
    timer.unref();
    this.waiting = { files, timer };
    this.rejected = undefined;
    const error = new InfraError(
      'CERT_INVALID',
      `${err.message}; keeping the loaded certificate until then, when these files are read again`,
      { cause: err },
    );
    if (waitedFor && samePem(files, waitedFor)) this.failure = error;
    else this.report(error);
    return error;
  }

  /** Cancels the timer of waitUntilValid; returns the files it was waiting for. */
  private stopWaiting(): PemFiles | undefined {
    clearTimeout(this.waiting?.timer);
    const files = this.waiting?.files;
    this.waiting = undefined;
    return files;
  }

  private reject(err: InfraError, files: PemFiles | undefined): InfraError {
    this.rejected = files;
    this.report(err);
    return err;
  }

  private report(err: InfraError): void {
    this.failure = err;
    for (const listener of [...this.errorListeners]) {
      try {
        listener(err);
      } catch (listenerErr) {
        process.emitWarning(`a TLS material error listener threw: ${String(listenerErr)}`, 'WeftWarning');
      }
    }
  }
}

interface PemFiles {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function samePem(a: PemFiles, b: PemFiles): boolean {
  return a.ca.equals(b.ca) && a.cert.equals(b.cert) && a.key.equals(b.key);
}

function asInfraError(err: unknown): InfraError {
  if (err instanceof InfraError) return err;
  return new InfraError('CERT_INVALID', `reloading TLS material failed: ${String(err)}`, { cause: err });
}
