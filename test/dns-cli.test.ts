// `weft dns plan` and `weft dns sync` against a real BIND9 and redis-server: plan changes nothing, sync
// writes, sync refuses while a publisher holds the lease, bad usage or config is a usage error. The command
// runs in-process (a full `weft` process takes seconds to start on a busy machine); one real process run
// checks the exit codes end to end.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { registerDnsCommand } from '../gateway/cli/commands/dns.js';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import { GatewayError } from '../gateway/errors.js';
import { DnsPublisher, Rfc2136Provider } from '../infra/index.js';
import { BindServer } from './helpers/bind-server.js';
import { waitFor } from './helpers/wait.js';
import { runWeft } from './helpers/weft-cli.js';

interface InProcessRun {
  readonly out: string;
  /** What `weft` would exit with: 0, 1 (runtime failure) or 2 (usage or config). */
  readonly code: number;
  readonly message: string;
}

async function dns(args: readonly string[]): Promise<InProcessRun> {
  let out = '';
  const program = new Command('weft').exitOverride().configureOutput({ writeErr: () => undefined });
  registerDnsCommand(program, {
    write: (chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    },
  });
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(['dns', ...args], { from: 'user' });
    return { out, code: 0, message: '' };
  } catch (err) {
    if (err instanceof CommanderError) return { out, code: 2, message: err.message };
    if (err instanceof GatewayError) {
      const usage = ['USAGE', 'CONFIG_INVALID', 'CONFIG_UNREADABLE'].includes(err.code);
      return { out, code: usage ? 2 : 1, message: err.message };
    }
    throw err;
  }
}

const RECORD = {
  name: 'api.example.test',
  routing: 'multivalue',
  ttl: 5,
  targets: [
    { cluster: 'aws-use1', addresses: ['127.0.1.10'] },
    { cluster: 'gcp-euw1', addresses: ['127.0.2.10'] },
    { cluster: 'azr-weu', addresses: ['127.0.3.10'] },
  ],
};

describe('weft dns plan / sync', () => {
  let redisServer: RedisServerProcess;
  let bind: BindServer;
  let dir: string;
  let configPath: string;

  before(async () => {
    [redisServer, bind] = await Promise.all([
      RedisServerProcess.start(),
      BindServer.start({ zone: 'example.test' }),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'weft-dns-cli-'));
    await writeFile(join(dir, 'tsig.key'), `${bind.secret.toString('base64')}\n`);
    const config = {
      cluster: 'aws-use1',
      locality: { cloud: 'aws', region: 'us-east-1' },
      trustDomain: 'acme.test',
      redis: redisServer.url,
      tls: { ca: 'ca.pem', cert: 'gw.pem', key: 'gw.key' },
      listen: { peer: '127.0.0.1:4143' },
      dns: {
        provider: {
          rfc2136: {
            server: `${bind.host}:${bind.port}`,
            zone: 'example.test',
            tsig: { name: bind.keyName, secretFile: 'tsig.key' },
          },
        },
        ownerId: 'cli-fabric',
        leaseTtl: '2s',
        records: [RECORD],
      },
    };
    configPath = join(dir, 'gateway.yaml');
    await writeFile(configPath, stringify(config));
    await writeFile(join(dir, 'no-dns.yaml'), stringify({ ...config, dns: undefined }));
    await writeFile(
      join(dir, 'bad-dns.yaml'),
      stringify({ ...config, dns: { ...config.dns, interval: 'soon' } }),
    );
  });

  after(async () => {
    await bind?.stop();
    await redisServer?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('plan shows the changes, says where health came from, and writes nothing', async () => {
    const run = await dns(['plan', '--config', configPath, '--health', 'gcp-euw1=down']);
    assert.equal(run.code, 0, run.message);
    assert.match(run.out, /health: from --health \(gcp-euw1=down\); every other cluster assumed healthy/);
    assert.match(run.out, /api\.example\.test A: create/);
    assert.match(run.out, /\+ api\.example\.test 5 A 127\.0\.1\.10 127\.0\.3\.10/);
    assert.match(run.out, /\+ _weft-a\.api\.example\.test 5 TXT heritage=weft,weft\/owner=cli-fabric/);
    assert.deepEqual(await bind.query('api.example.test', 'A'), []);
  });

  it('sync applies under the lease; a second plan has nothing to do', async () => {
    const run = await dns(['sync', '--config', configPath]);
    assert.equal(run.code, 0, run.message);
    assert.match(run.out, /health: no --health given, every cluster assumed healthy/);
    assert.match(run.out, /applied 1 batch\(es\) with fencing token \d+/);
    assert.deepEqual(await bind.query('api.example.test', 'A'), ['127.0.1.10', '127.0.2.10', '127.0.3.10']);
    const again = await dns(['plan', '--config', configPath]);
    assert.equal(again.code, 0, again.message);
    assert.match(again.out, /api\.example\.test A: in sync\nno changes/);
  });

  it('sync refuses to write while a running publisher holds the lease', async (t) => {
    const redis = new Redis(redisServer.url);
    t.after(() => redis.disconnect());
    const publisher = new DnsPublisher({
      redis,
      provider: new Rfc2136Provider({
        server: { host: bind.host, port: bind.port },
        zone: 'example.test',
        tsig: bind.tsig,
      }),
      ownerId: 'cli-fabric',
      instanceId: 'gw-live',
      records: [
        {
          ...RECORD,
          type: 'A',
          routing: 'multivalue',
          targets: RECORD.targets.map((x, i) => ({ ...x, priority: i, weight: 1 })),
        },
      ],
      leaseTtlMs: 5000,
    });
    t.after(() => publisher.close());
    publisher.start();
    await waitFor('the publisher to lead', () => publisher.status().role === 'leader', 5000);
    const run = await dns(['sync', '--config', configPath, '--health', 'aws-use1=down']);
    assert.equal(run.code, 1);
    assert.match(run.message, /another DNS publisher \(gw-live\) holds the lease for owner cli-fabric/);
    assert.equal((await bind.query('api.example.test', 'A')).length, 3, 'nothing written');
  });

  it('reports usage and config errors as such', async () => {
    const noConfig = await dns(['plan']);
    assert.equal(noConfig.code, 2);
    assert.match(noConfig.message, /required option '--config <file>'/);
    const noDns = await dns(['plan', '--config', join(dir, 'no-dns.yaml')]);
    assert.equal(noDns.code, 2);
    assert.match(noDns.message, /has no dns: section/);
    const badHealth = await dns(['plan', '--config', configPath, '--health', 'aws-use1=sideways']);
    assert.equal(badHealth.code, 2);
    assert.match(badHealth.message, /--health "aws-use1=sideways" is not cluster=up or cluster=down/);
    const badDns = await dns(['sync', '--config', join(dir, 'bad-dns.yaml')]);
    assert.equal(badDns.code, 2);
    assert.match(badDns.message, /dns\.interval: "soon" is not a duration/);
  });

  it('the weft binary exits 2 on a config error', async () => {
    const bad = await runWeft(['dns', 'plan', '--config', join(dir, 'bad-dns.yaml')], 60_000);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /dns\.interval: "soon" is not a duration/);
  });
});
