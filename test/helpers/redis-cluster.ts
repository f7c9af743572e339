// A real Redis Cluster on ephemeral loopback ports for tests: N masters (`redis-server --cluster-enabled
// yes`, each with its own directory for nodes.conf) joined by `redis-cli --cluster create`, ready once
// every node reports cluster_state:ok.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';
import { waitFor } from './wait.js';

export class RedisClusterSetup {
  private constructor(
    private readonly dirs: string[],
    readonly nodes: RedisServerProcess[],
  ) {}

  static async start(size = 3): Promise<RedisClusterSetup> {
    const dirs: string[] = [];
    const nodes: RedisServerProcess[] = [];
    const setup = new RedisClusterSetup(dirs, nodes);
    try {
      for (let i = 0; i < size; i++) {
        const dir = mkdtempSync(join(tmpdir(), 'weft-cluster-'));
        dirs.push(dir);
        nodes.push(
          await RedisServerProcess.start({
            dir,
            args: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              '2000',
            ],
          }),
        );
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      const clients = nodes.map((node) => new Redis(node.port, node.host));
      try {
        await waitFor(
          'cluster_state:ok on every node',
          async () => {
            const infos = await Promise.all(clients.map((client) => client.cluster('INFO')));
            return infos.every((info) => info.includes('cluster_state:ok'));
          },
          15_000,
        );
      } finally {
        for (const client of clients) client.disconnect();
      }
      return setup;
    } catch (err) {
      await setup.stop();
      throw err;
    }
  }

  get seeds(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: n.host, port: n.port }));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${output.slice(-2000)}`)),
    );
  });
}
