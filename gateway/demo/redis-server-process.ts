// Runs a private redis-server on an ephemeral loopback port: used by `weft demo` and by the tests, which
// also stop, freeze (SIGSTOP) and restart it on the same port to exercise outage behaviour.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { freePort } from './free-port.js';

export interface RedisServerOptions {
  readonly host?: string;
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  readonly args?: readonly string[];
  /**
   * Working directory for files redis-server writes (cluster config, a replica's RDB); default a
   * private temp folder removed by stop(), so nothing lands in the caller's working directory.
   */
  readonly dir?: string;
}

const INSTALL_HINT =
  'redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL';

export function assertRedisServerInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) throw new GatewayError('DEPENDENCY_MISSING', INSTALL_HINT);
}

export class RedisServerProcess {
  readonly host: string;
  port = 0;
  private child: ChildProcess | undefined;
  private readonly options: RedisServerOptions;
  private readonly dir: string;
  private readonly ownsDir: boolean;

  private constructor(options: RedisServerOptions) {
    this.options = options;
    this.host = options.host ?? '127.0.0.1';
    this.ownsDir = options.dir === undefined;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'weft-redis-'));
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
    assertRedisServerInstalled();
    const server = new RedisServerProcess(options);
    for (let attempt = 0; ; attempt++) {
      server.port = await freePort(server.host);
      try {
        await server.spawn();
        return server;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Stops the server abruptly (SIGKILL): clients see connections reset. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  /** Freezes the server (SIGSTOP): connections stay open but nothing answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Starts the server again on the same port (after kill()); data is not kept. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Kills the server and removes its private folder. */
  async stop(): Promise<void> {
    await this.kill();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      this.host,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      ...(this.options.args ?? []),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    return new Promise((resolveReady, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          child.stdout?.off('data', onData);
          child.stdout?.resume();
          resolveReady();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.resume();
      child.once('exit', (code, signal) => {
        if (!output.includes('Ready to accept connections')) {
          reject(
            new GatewayError(
              'DEPENDENCY_MISSING',
              `redis-server exited (${code ?? signal}): ${output.trim()}`,
            ),
          );
        }
      });
      child.once('error', reject);
    });
  }
}
