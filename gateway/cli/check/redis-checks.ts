// `weft check`'s Redis checks over one client built exactly as the gateway builds it: reachable and
// authenticated (with a bounded wait), allowed to do what discovery does under `weft:{v1}:` (write,
// read, delete, run scripts, read the change feed), and this machine's clock close to Redis TIME.
import { randomBytes } from 'node:crypto';
import {
  createRedisClient,
  describeRedis,
  KEY_PREFIX,
  whenReady,
  type RedisClient,
  type RedisConfig,
} from '../../../discovery/index.js';
import { fail, ok, warn, type Finding } from './check-result.js';

/** Clock skew against Redis TIME: up to this is fine… */
const SKEW_OK_MS = 1_000;
/** …up to this is a warning, beyond it a failure. */
const SKEW_FAIL_MS = 10_000;

const ACL_HINT = (user: string) =>
  `grant the gateway's Redis user the registry's keys and commands, e.g. ACL SETUSER ${user} on >PASSWORD ~weft:{v1}:* &* +@all -@admin`;

function reachHint(message: string): string {
  if (/WRONGPASS|invalid username-password/i.test(message))
    return 'check redis username/password in the config (the ACL user the gateway logs in as)';
  if (/NOAUTH/i.test(message))
    return 'this Redis needs a password: set redis.password (and redis.username for an ACL user)';
  if (/certificate|SSL|TLS|self.signed|alert/i.test(message))
    return 'the TLS handshake with Redis failed: check redis.tls (ca, cert, key, servername) against the server';
  return 'is Redis running and reachable from this machine? check the redis: address in the config, firewalls and redis.tls';
}

export interface RedisConnection {
  readonly finding: Finding;
  /** The ready client when the check passed; the caller disconnects it. */
  readonly client?: RedisClient;
}

/** Connects (bounded by timeoutMs) and PINGs. */
export async function checkRedisReachable(config: RedisConfig, timeoutMs: number): Promise<RedisConnection> {
  const target = describeRedis(config);
  let client: RedisClient;
  try {
    client = createRedisClient(config, {
      commandTimeoutMs: timeoutMs,
      connectTimeoutMs: timeoutMs,
      maxReconnectDelayMs: 500,
    });
  } catch (err) {
    return {
      finding: fail(
        `cannot set up the Redis client for ${target}: ${(err as Error).message}`,
        'fix redis.tls file paths in the config',
      ),
    };
  }
  let lastError = '';
  client.on('error', (err: Error) => {
    lastError = err.message || (err as NodeJS.ErrnoException).code || String(err);
  });
  await whenReady(client, timeoutMs, new AbortController().signal);
  if (client.status !== 'ready') {
    client.disconnect();
    const why = lastError || `no answer within ${timeoutMs} ms`;
    return { finding: fail(`cannot reach Redis at ${target}: ${why}`, reachHint(why)) };
  }
  try {
    const started = performance.now();
    await client.ping();
    const rtt = performance.now() - started;
    return { finding: ok(`${target} answers PING in ${rtt.toFixed(1)} ms`), client };
  } catch (err) {
    client.disconnect();
    const why = (err as Error).message;
    return { finding: fail(`Redis at ${target} refused PING: ${why}`, reachHint(why)) };
  }
}

/** Runs what discovery runs, on a scratch key; NOPERM on any of them fails with the ACL to grant. */
export async function checkRedisPermissions(
  client: RedisClient,
  config: RedisConfig,
  cluster: string,
): Promise<Finding> {
  const key = `${KEY_PREFIX}check:${cluster}:${randomBytes(4).toString('hex')}`;
  const user = config.username ?? 'default';
  const steps: [string, () => Promise<unknown>][] = [
    ['write (SET)', () => client.set(key, 'weft check', 'PX', 10_000)],
    ['read (GET)', () => client.get(key)],
    ['run scripts (EVAL)', () => client.eval("return redis.call('GET', KEYS[1])", 1, key)],
    ['read the change feed (XREVRANGE)', () => client.xrevrange(`${KEY_PREFIX}feed`, '+', '-', 'COUNT', 1)],
    ['read leases (ZRANGE)', () => client.zrange(`${KEY_PREFIX}leases`, '0', '0')],
    ['delete (DEL)', () => client.del(key)],
  ];
  const denied: string[] = [];
  for (const [what, run] of steps) {
    try {
      await run();
    } catch (err) {
      const message = (err as Error).message;
      if (/NOPERM|NOAUTH|permission/i.test(message)) denied.push(`${what}: ${message}`);
      else
        return fail(
          `Redis failed "${what}" under ${KEY_PREFIX}: ${message}`,
          'check the Redis server logs; the gateway needs these commands',
        );
    }
  }
  if (denied.length > 0) {
    return fail(`Redis user ${user} may not ${denied.join('; ')}`, ACL_HINT(user));
  }
  return ok(`user ${user} can write, read, delete, run scripts and read the feed under ${KEY_PREFIX}*`);
}

/** Local clock minus Redis TIME (at the midpoint of the round trip). */
export async function checkClockSkew(client: RedisClient, now: () => number): Promise<Finding> {
  const sent = now();
  const [seconds = '0', micros = '0'] = (await client.time()).map(String);
  const received = now();
  const server = Number(seconds) * 1000 + Number(micros) / 1000;
  const skew = Math.round((sent + received) / 2 - server);
  const text = `this machine's clock is ${Math.abs(skew)} ms ${skew >= 0 ? 'ahead of' : 'behind'} Redis TIME`;
  const hint =
    'synchronise clocks with NTP (chrony, systemd-timesyncd): certificate validity and lease ages depend on them';
  if (Math.abs(skew) > SKEW_FAIL_MS) return fail(text, hint);
  if (Math.abs(skew) > SKEW_OK_MS) return warn(text, hint);
  return ok(text);
}
