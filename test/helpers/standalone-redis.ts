// A private standalone redis-server for the discovery tests, in the three shapes the suites need: shared
// by the tests of one describe block (each test on an emptied server with its own DiscoveryFixture), owned
// by one test (with its fixture), or listening for TLS that requires client certificates.
import { after, afterEach, before, beforeEach, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from '../../gateway/demo/free-port.js';
import { RedisServerProcess, type RedisServerOptions } from '../../gateway/demo/redis-server-process.js';
import { DiscoveryFixture } from './discovery-fixture.js';

export interface StandaloneRedisSuite {
  /** Started before the block's first test, stopped after its last. */
  readonly redis: RedisServerProcess;
  /** A plain client of `redis`, for reading (or spoiling) what discovery wrote. */
  readonly raw: Redis;
  /** The current test's fixture on `redis`: new for each test, after a FLUSHALL; closed after the test. */
  readonly fx: DiscoveryFixture;
}

/**
 * Registers before/after hooks in the enclosing describe block that run one redis-server for all its
 * tests. The properties are set by those hooks: read them inside tests and hooks, not while declaring.
 */
export function standaloneRedisSuite(options: RedisServerOptions = {}): StandaloneRedisSuite {
  let redis: RedisServerProcess;
  let raw: Redis;
  let fx: DiscoveryFixture;

  before(async () => {
    redis = await RedisServerProcess.start(options);
    raw = new Redis(redis.url);
  });
  after(async () => {
    raw.disconnect();
    await redis.stop();
  });
  beforeEach(async () => {
    await raw.flushall();
    fx = new DiscoveryFixture(() => ({ mode: 'standalone', url: redis.url }));
  });
  afterEach(async () => {
    await fx.close();
  });

  return {
    get redis() {
      return redis;
    },
    get raw() {
      return raw;
    },
    get fx() {
      return fx;
    },
  };
}

/**
 * A redis-server and a DiscoveryFixture on it, for test `t` alone: after `t` the server stops, then the
 * fixture closes.
 */
export async function standaloneRedis(
  t: TestContext,
): Promise<{ redis: RedisServerProcess; fx: DiscoveryFixture }> {
  const redis = await RedisServerProcess.start();
  t.after(() => redis.stop());
  const fx = new DiscoveryFixture(() => ({ mode: 'standalone', url: redis.url }));
  t.after(() => fx.close());
  return { redis, fx };
}

/** What a TLS redis-server presents (`cert`, `key`) and accepts client certificates from (`ca`). */
export interface RedisServerTlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/**
 * A redis-server for test `t` alone (stopped after it) that also listens for TLS on a second ephemeral
 * port and requires a client certificate there; its plain port stays open. `args` are added to its
 * command line (ACL users, say). The files are read at start and again at restart().
 */
export async function tlsRedisServer(
  t: TestContext,
  files: RedisServerTlsFiles,
  args: readonly string[] = [],
): Promise<{ redis: RedisServerProcess; tlsUrl: string }> {
  const tlsPort = await freePort();
  const redis = await RedisServerProcess.start({
    args: [
      '--tls-port',
      String(tlsPort),
      '--tls-auth-clients',
      'yes',
      '--tls-cert-file',
      files.cert,
      '--tls-key-file',
      files.key,
      '--tls-ca-cert-file',
      files.ca,
      ...args,
    ],
  });
  t.after(() => redis.stop());
  return { redis, tlsUrl: `rediss://127.0.0.1:${tlsPort}` };
}
