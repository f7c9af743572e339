// One gateway as a child process, started exactly as users run it (`weft gateway --config FILE`), with
// its log in a file. The demo, its smoke run and the fault tests stop, kill, freeze and reload these.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { GatewayError } from '../errors.js';

export interface GatewayProcessOptions {
  readonly cluster: string;
  readonly configFile: string;
  readonly logFile: string;
  /** The admin URL whose /readyz says the gateway is up. */
  readonly adminUrl: string;
  /** The CLI entry script; defaults to the one running now (tsx sources or the dist build). */
  readonly entry?: string;
  readonly logLevel?: string;
}

export class GatewayProcess {
  readonly options: GatewayProcessOptions;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** How the last run ended: its exit code, or the signal that killed it. */
  exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(options: GatewayProcessOptions) {
    this.options = options;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the gateway and waits (up to timeoutMs) until its /readyz answers 200. */
  async start(timeoutMs = 20_000): Promise<void> {
    const entry = this.options.entry ?? process.argv[1] ?? '';
    const log = openSync(this.options.logFile, 'a');
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        entry,
        'gateway',
        '--config',
        this.options.configFile,
        '--log-level',
        this.options.logLevel ?? 'info',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.child = child;
    this.exitStatus = undefined;
    this.exited = new Promise((resolveExit) =>
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolveExit();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) break;
      if (await isReady(this.options.adminUrl)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const tail = this.logTail();
    this.kill();
    throw new GatewayError(
      'INTERNAL',
      `gateway ${this.options.cluster} did not become ready within ${timeoutMs} ms; its log (${this.options.logFile}) ends:\n${tail}`,
    );
  }

  /** SIGTERM: the gateway drains and exits; waits for the exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL: a crash, no drain. */
  kill(): void {
    if (!this.running) return;
    this.child?.kill('SIGCONT');
    this.child?.kill('SIGKILL');
  }

  /** Sends `signal` to the gateway as an operator would (kill -HUP …). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  /** Resolves once the process has exited; rejects after `timeoutMs`. */
  async exit(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`gateway ${this.options.cluster} still runs after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async killAndWait(): Promise<void> {
    this.kill();
    await this.exited;
  }

  /** SIGSTOP: a frozen gateway, connections open but nothing answers. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /**
   * SIGHUP: the gateway re-reads its config. Resolves when its log says the new config is running;
   * rejects when the log says it was rejected, or at the deadline.
   */
  async reload(timeoutMs = 10_000): Promise<void> {
    const before = this.logCount(RELOADED);
    const rejectedBefore = this.logCount(RELOAD_REJECTED);
    this.child?.kill('SIGHUP');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.logCount(RELOADED) > before) return;
      if (this.logCount(RELOAD_REJECTED) > rejectedBefore)
        throw new GatewayError(
          'CONFIG_INVALID',
          `gateway ${this.options.cluster} rejected its new config:\n${this.logTail(5)}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new GatewayError(
      'INTERNAL',
      `gateway ${this.options.cluster} did not reload within ${timeoutMs} ms`,
    );
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private logCount(needle: string): number {
    let text: string;
    try {
      text = readFileSync(this.options.logFile, 'utf8');
    } catch {
      return 0;
    }
    return text.split(needle).length - 1;
  }
}

const RELOADED = '"msg":"config reloaded"';
const RELOAD_REJECTED = '"msg":"config reload rejected';

async function isReady(adminUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${adminUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}
