// A private BIND9 (`named -g`) for the DNS tests: its own temp dir, zone file and TSIG key, listening on a
// loopback port. It answers real DNS queries and takes TSIG-signed RFC 2136 updates; stop() kills it and
// removes the dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../gateway/demo/free-port.js';

export interface BindServerOptions {
  readonly zone?: string;
  readonly keyName?: string;
  /** Extra zone-file lines, e.g. `www 60 IN A 127.0.9.9`. */
  readonly records?: readonly string[];
}

const INSTALL_HINT =
  'named is not on PATH: install BIND9 (Debian/Ubuntu: apt-get install -y bind9 bind9-dnsutils)';

export class BindServer {
  readonly host = '127.0.0.1';
  readonly zone: string;
  readonly keyName: string;
  readonly secret: Buffer;
  port = 0;
  private readonly dir: string;
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(dir: string, zone: string, keyName: string) {
    this.dir = dir;
    this.zone = zone;
    this.keyName = keyName;
    this.secret = randomBytes(32);
  }

  static async start(options: BindServerOptions = {}): Promise<BindServer> {
    const probe = spawnSync('named', ['-v'], { stdio: 'ignore' });
    if (probe.error || probe.status !== 0) throw new Error(INSTALL_HINT);
    const dir = await mkdtemp(join(tmpdir(), 'weft-bind-'));
    const server = new BindServer(dir, options.zone ?? 'example.test', options.keyName ?? 'weft-key');
    await server.writeZone(options.records ?? []);
    for (let attempt = 0; ; attempt++) {
      server.port = await freePort(server.host);
      try {
        await server.spawn();
        return server;
      } catch (err) {
        if (attempt >= 4) {
          await rm(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  get tsig() {
    return { name: this.keyName, algorithm: 'hmac-sha256' as const, secret: this.secret };
  }

  /** A real DNS query (UDP, via c-ares); [] when the name or type does not exist. */
  async query(name: string, type: 'A' | 'AAAA' | 'TXT'): Promise<string[]> {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`${this.host}:${this.port}`]);
    try {
      if (type === 'TXT') return (await resolver.resolveTxt(name)).map((parts) => parts.join('')).sort();
      const found = type === 'A' ? await resolver.resolve4(name) : await resolver.resolve6(name);
      return found.sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
      throw err;
    }
  }

  /** Runs nsupdate with this server's key, as an operator outside weft would. */
  nsupdate(commands: readonly string[]): void {
    const script = [`server ${this.host} ${this.port}`, `zone ${this.zone}`, ...commands, 'send', ''].join(
      '\n',
    );
    const out = spawnSync(
      'nsupdate',
      ['-y', `hmac-sha256:${this.keyName}:${this.secret.toString('base64')}`],
      {
        input: script,
        encoding: 'utf8',
      },
    );
    if (out.error)
      throw new Error(`nsupdate could not run (${out.error.message}): apt-get install bind9-dnsutils`);
    if (out.status !== 0) throw new Error(`nsupdate failed: ${out.stderr}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  private async writeZone(records: readonly string[]): Promise<void> {
    const zoneFile = [
      '$TTL 60',
      `@ IN SOA ns.${this.zone}. admin.${this.zone}. 1 60 60 600 60`,
      `@ IN NS ns.${this.zone}.`,
      'ns IN A 127.0.0.1',
      ...records,
      '',
    ].join('\n');
    await writeFile(join(this.dir, 'zone.db'), zoneFile);
  }

  private async spawn(): Promise<void> {
    const conf = `
options {
  directory "${this.dir}";
  listen-on port ${this.port} { ${this.host}; };
  listen-on-v6 { none; };
  pid-file none;
  session-keyfile none;
  managed-keys-directory "${this.dir}";
  recursion no;
  notify no;
  dnssec-validation no;
  allow-query { any; };
};
controls { };
key "${this.keyName}" { algorithm hmac-sha256; secret "${this.secret.toString('base64')}"; };
zone "${this.zone}" {
  type primary;
  file "zone.db";
  allow-update { key "${this.keyName}"; };
};
`;
    const confPath = join(this.dir, 'named.conf');
    await writeFile(confPath, conf);
    const child = spawn('named', ['-g', '-c', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        this.log += chunk.toString();
        if (/ running\r?$/m.test(this.log)) {
          child.stderr?.off('data', onData);
          child.stderr?.resume();
          if (/could not listen|address in use/i.test(this.log)) {
            child.kill('SIGKILL');
            reject(new Error(`named could not bind ${this.host}:${this.port}`));
          } else resolve();
        }
      };
      child.stderr?.on('data', onData);
      child.stdout?.resume();
      child.once('exit', (code, signal) => {
        if (!/ running\r?$/m.test(this.log)) {
          reject(
            new Error(`named exited (${code ?? signal}) before it was running:\n${this.log.slice(-2000)}`),
          );
        }
      });
      child.once('error', reject);
    });
  }
}
