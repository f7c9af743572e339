// The Redis client's TLS files (redis.tls ca, cert, key) read again each time a connection is dialled, so
// a certificate rotated in place (cert-manager, Vault) is presented at the next reconnect without a
// restart. Established connections keep what their handshake used. A file that cannot be read, or a
// half-rotated cert/key pair, keeps the last good material: reconnecting must never stop over it.
import { readFileSync } from 'node:fs';
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { DiscoveryError } from './errors.js';
import type { RedisTlsConfig } from './redis-config.js';

const FILES = ['ca', 'cert', 'key'] as const;
type Material = Partial<Record<(typeof FILES)[number], Buffer>>;

function readMaterial(config: RedisTlsConfig): Material {
  const material: Material = {};
  for (const what of FILES) {
    const path = config[what];
    if (path === undefined) continue;
    try {
      material[what] = readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code ? ` (${code})` : '';
      throw new DiscoveryError('REDIS_UNAVAILABLE', `cannot read Redis TLS ${what} ${path}${reason}`, {
        cause: err,
      });
    }
  }
  return material;
}

/** Parses the PEM and checks that key and cert match, here rather than inside ioredis (see below). */
function contextOf(material: Material): SecureContext {
  try {
    return createSecureContext(material);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new DiscoveryError('REDIS_UNAVAILABLE', `cannot use the Redis TLS files: ${detail}`, {
      cause: err,
    });
  }
}

function sameMaterial(a: Material, b: Material): boolean {
  return FILES.every((what) => (a[what] && b[what] ? a[what].equals(b[what]) : a[what] === b[what]));
}

/**
 * ioredis `tls` options whose files are re-read per dial. Throws DiscoveryError when they cannot be read
 * or used now (a configuration error at start). Later, a failed re-read keeps the last good material and
 * calls `onReloadError` once, synchronously and from inside ioredis's connect, until a re-read succeeds.
 */
export function reloadingTlsOptions(
  config: RedisTlsConfig,
  onReloadError: (err: DiscoveryError) => void,
): ConnectionOptions {
  let material = readMaterial(config);
  let context = contextOf(material);
  let failing = false;
  const current = (): SecureContext => {
    try {
      const fresh = readMaterial(config);
      if (!sameMaterial(fresh, material)) {
        context = contextOf(fresh);
        material = fresh;
      }
      failing = false;
    } catch (err) {
      const message = `${(err as DiscoveryError).message}; connecting to Redis with the last good TLS files`;
      if (!failing) onReloadError(new DiscoveryError('REDIS_UNAVAILABLE', message, { cause: err }));
      failing = true;
    }
    return context;
  };
  return {
    // A getter runs once per dial: ioredis copies `tls` into the options of each new socket with
    // Object.assign (connectors/StandaloneConnector.js connect(), and SentinelConnector/index.js for the
    // master; its sentinel clients are Redis instances with `tls: sentinelTLS`), and every copy of the
    // client options before that is shallow (Redis#parseOptions, Redis#duplicate, Cluster's per-node
    // options in cluster/ConnectionPool.js, Cluster#duplicate), so this object travels by reference.
    // A built context, not ca/cert/key: tls.connect() throwing on a bad pair would end the client for
    // good (ioredis sets status "end" when its connector rejects), and an unchanged context is reused.
    get secureContext() {
      return current();
    },
    servername: config.servername,
    rejectUnauthorized: !config.insecureSkipVerify,
  };
}
