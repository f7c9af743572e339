// A real Redis Sentinel deployment on ephemeral loopback ports for tests: one master, one replica and
// three sentinels (quorum 2), each sentinel a `redis-server sentinel.conf --sentinel` with its own
// writable config. waitForFailover() reports the new master after the old one is killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../gateway/demo/free-port.js';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';
import { waitFor, within } from './wait.js';

export const MASTER_NAME = 'weft';

class SentinelProcess {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  static async start(dir: string, masterPort: number, quorum: number): Promise<SentinelProcess> {
    const port = await freePort();
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} ${quorum}`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('+monitor master')) {
          child.stdout?.off('data', onData);
          child.stdout?.resume();
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.resume();
      child.once('exit', (code) => reject(new Error(`sentinel exited (${code}): ${output.trim()}`)));
    });
    return new SentinelProcess(port, child);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

export class RedisSentinelSetup {
  private constructor(
    private readonly dir: string,
    readonly master: RedisServerProcess,
    readonly replica: RedisServerProcess,
    private readonly sentinelProcesses: SentinelProcess[],
  ) {}

  static async start(): Promise<RedisSentinelSetup> {
    const dir = mkdtempSync(join(tmpdir(), 'weft-sentinel-'));
    const master = await RedisServerProcess.start();
    const replica = await RedisServerProcess.start({
      args: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    const probe = new Redis(replica.port, '127.0.0.1', { lazyConnect: false });
    try {
      await waitFor(
        'the replica in sync',
        async () => (await probe.info('replication')).includes('master_link_status:up'),
        10_000,
      );
    } finally {
      probe.disconnect();
    }
    const sentinels: SentinelProcess[] = [];
    for (let i = 0; i < 3; i++) sentinels.push(await SentinelProcess.start(dir, master.port, 2));
    const setup = new RedisSentinelSetup(dir, master, replica, sentinels);
    // A failover needs the sentinels to know each other (hello messages every 2 s) and the replica.
    await setup.eachSentinel(async (sentinel) => {
      await waitFor(
        'sentinels to discover each other and the replica',
        async () => {
          const info = (await sentinel.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[];
          const field = (name: string) => info[info.indexOf(name) + 1];
          return field('num-other-sentinels') === '2' && field('num-slaves') === '1';
        },
        15_000,
      );
    });
    return setup;
  }

  get sentinels(): { host: string; port: number }[] {
    return this.sentinelProcesses.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  /** The master's address as the sentinels report it. */
  async masterAddress(): Promise<{ host: string; port: number }> {
    const sentinel = new Redis(this.sentinelProcesses[0]?.port ?? 0, '127.0.0.1');
    try {
      const [host, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [
        string,
        string,
      ];
      return { host, port: Number(port) };
    } finally {
      sentinel.disconnect();
    }
  }

  /** Waits until the sentinels name a master other than `oldPort`; returns it. */
  async waitForFailover(oldPort: number, timeoutMs = 20_000): Promise<{ host: string; port: number }> {
    return within('a failover', timeoutMs, async () => {
      const address = await this.masterAddress();
      return address.port !== oldPort ? address : undefined;
    });
  }

  private async eachSentinel(fn: (sentinel: Redis) => Promise<void>): Promise<void> {
    for (const s of this.sentinelProcesses) {
      const sentinel = new Redis(s.port, '127.0.0.1');
      try {
        await fn(sentinel);
      } finally {
        sentinel.disconnect();
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.sentinelProcesses.map((s) => s.stop()));
    await Promise.all([this.master.stop(), this.replica.stop()]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
