// What a test of one real gateway (one cluster, `a`) needs: a temporary directory, its own redis-server,
// certificates, and the config's common part with free ports on the test's loopback address. Torn down
// when the test ends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../../gateway/demo/free-port.js';
import { RedisServerProcess } from '../../gateway/demo/redis-server-process.js';
import type { TlsFilePaths } from '../../infra/index.js';
import { createFabricPki } from './fabric-pki.js';

/** Cluster `a`'s config without its services, as a test writes it (YAML) or parses it. */
export interface LoneGatewayConfig {
  readonly cluster: 'a';
  readonly locality: { readonly cloud: string; readonly region: string };
  readonly trustDomain: string;
  readonly redis: string;
  readonly tls: TlsFilePaths;
  readonly listen: {
    readonly outbound: string;
    readonly peer: string;
    readonly admin: string;
    readonly control: string;
  };
}

export interface LoneGatewayGround {
  readonly dir: string;
  readonly redis: RedisServerProcess;
  /** A free `host:port` on the test's address. */
  readonly listen: () => Promise<string>;
  /** The config's common part, with four free listen addresses. */
  readonly config: LoneGatewayConfig;
}

export async function loneGatewayGround(
  t: TestContext,
  host: string,
  trustDomain: string,
): Promise<LoneGatewayGround> {
  const dir = await mkdtemp(join(tmpdir(), `weft-${trustDomain.replace(/\W/g, '-')}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const redis = await RedisServerProcess.start({ host });
  t.after(() => redis.stop());
  const pki = await createFabricPki(dir, { trustDomain, clusters: ['a'] });
  const listen = async () => `${host}:${await freePort(host)}`;
  const config: LoneGatewayConfig = {
    cluster: 'a',
    locality: { cloud: 'aws', region: 'us-east-1' },
    trustDomain,
    redis: redis.url,
    tls: pki.pathsOf('a'),
    listen: {
      outbound: await listen(),
      peer: await listen(),
      admin: await listen(),
      control: await listen(),
    },
  };
  return { dir, redis, listen, config };
}
