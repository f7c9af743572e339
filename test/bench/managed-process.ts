// A long-running child of the benchmark (nginx, iperf3 server, haproxy, a weft gateway): output goes to a
// log file, readiness is a condition the caller polls, and stop() ends it with SIGTERM, then SIGKILL
// after a deadline. Every process the harness starts is one of these so a failed run leaves none behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export interface ManagedProcessOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const running = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private exitDescription: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(options: ManagedProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    // The child writes its log file itself: relaying output through this process would cost CPU
    // that the measured processes share.
    const log = openSync(options.logFile, 'a');
    this.child = spawn(options.command, [...options.args], {
      stdio: ['ignore', log, log],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    closeSync(log);
    this.exited = new Promise((resolveExit) => {
      this.child.once('error', (err) => {
        this.exitDescription = `failed to start: ${err.message}`;
        resolveExit();
      });
      this.child.once('exit', (code, signal) => {
        this.exitDescription = `exited (${signal ?? `code ${code}`})`;
        running.delete(this);
        resolveExit();
      });
    });
    running.add(this);
  }

  static start(options: ManagedProcessOptions): ManagedProcess {
    return new ManagedProcess(options);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid: ${this.exitDescription}`);
    return this.child.pid;
  }

  /** Undefined while running; otherwise how it ended. */
  get exit(): string | undefined {
    return this.exitDescription;
  }

  /**
   * Polls `ready` until it resolves true; fails if the process exits first or `timeoutMs` passes.
   * The error names the log file, which holds the child's own explanation.
   */
  async waitUntil(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitDescription !== undefined) {
        throw new Error(`${this.name} ${this.exitDescription} before ${what}; ${this.logTail()}`);
      }
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; ${this.logTail()}`);
      }
      await pause(100);
    }
  }

  /** The end of the log file, for error messages. */
  logTail(lines = 12): string {
    let text: string;
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return `no log at ${this.logFile}`;
    }
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n    ');
    return `its log ${this.logFile} ends:\n    ${tail}`;
  }

  waitForPort(host: string, port: number, timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(`listener on ${host}:${port}`, () => acceptsConnections(host, port), timeoutMs);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitDescription !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    timer.unref();
    await this.exited;
    clearTimeout(timer);
  }
}

/** Stops every process still running, e.g. on Ctrl-C or after a failed start. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

export function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = connect({ host, port });
    socket.setTimeout(1_000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolveProbe(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolvePause) => setTimeout(resolvePause, ms));
}
