// Turns a RedisConfig (standalone URL, Sentinel, Cluster; TLS; ACL user) into an ioredis client. Clients
// fail fast instead of queueing while disconnected (the registry keeps its own latest desired state and
// retries), reconnect forever with a short capped backoff, and speak RESP2 for predictable reply shapes.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { DiscoveryError } from './errors.js';
import type { RedisConfig } from './redis-config.js';
import { reloadingTlsOptions } from './redis-tls-files.js';

export type RedisClient = Redis | Cluster;

export interface RedisClientTuning {
  /** A command that gets no reply within this time fails (a frozen Redis must not hang the registry). */
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Cap of the reconnect backoff. */
  readonly maxReconnectDelayMs: number;
}

export const DEFAULT_TUNING: RedisClientTuning = {
  commandTimeoutMs: 2000,
  connectTimeoutMs: 2000,
  maxReconnectDelayMs: 1000,
};

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Creates and starts connecting a client. Throws DiscoveryError when a TLS file cannot be read or used.
 * The TLS files are read again whenever a connection is dialled (redis-tls-files.ts); a re-read that fails
 * is reported as a DiscoveryError on the client's 'error' event, once until one succeeds again.
 */
export function createRedisClient(
  config: RedisConfig,
  tuning: RedisClientTuning = DEFAULT_TUNING,
): RedisClient {
  const client = connectingClient(config, tuning, (err) =>
    // On the next tick: the first dial runs inside the client's constructor (before the caller can
    // listen), and a listener should not run inside ioredis's connect.
    process.nextTick(() => {
      if (client.listenerCount('error') > 0) client.emit('error', err);
    }),
  );
  return client;
}

function connectingClient(
  config: RedisConfig,
  tuning: RedisClientTuning,
  onTlsReloadError: (err: DiscoveryError) => void,
): RedisClient {
  const tls = config.tls && reloadingTlsOptions(config.tls, onTlsReloadError);
  const retryStrategy = (times: number) =>
    Math.min(50 * 2 ** Math.min(times, 10), tuning.maxReconnectDelayMs);
  const common: RedisOptions = {
    protocol: 2,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: tuning.commandTimeoutMs,
    connectTimeout: tuning.connectTimeoutMs,
    disableClientInfo: true,
    retryStrategy,
    ...defined({ username: config.username, password: config.password, tls }),
  };
  switch (config.mode) {
    case 'standalone':
      return new Redis(config.url, common);
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: config.sentinels.map(({ host, port }) => ({ host, port })),
        name: config.name,
        db: config.db,
        sentinelRetryStrategy: retryStrategy,
        ...defined({
          sentinelUsername: config.sentinelUsername,
          sentinelPassword: config.sentinelPassword,
          sentinelTLS: tls,
          enableTLSForSentinelMode: tls ? true : undefined,
        }),
      });
    case 'cluster': {
      const options: ClusterOptions = {
        redisOptions: common,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        slotsRefreshTimeout: tuning.commandTimeoutMs,
      };
      return new Cluster(
        config.nodes.map(({ host, port }) => ({ host, port })),
        options,
      );
    }
  }
}

/**
 * Logs the connection errors of `clients` once per outage (warn) and the end of the outage, the first
 * client's next 'ready' (info). Every client needs an 'error' listener: ioredis emits some errors (a reply
 * no command waits for) straight to 'error', which without one is an uncaught exception.
 */
export function logOutages(logger: Logger, who: string, ...clients: RedisClient[]): void {
  let errorLogged = false;
  const onError = (err: Error) => {
    // Ours (a TLS file that cannot be re-read) come once until fixed and name what to fix: they are
    // logged even within an outage whose connection errors are logged once, and do not make one.
    if (err instanceof DiscoveryError) {
      logger.warn({ err: err.message }, `${who}: ${err.message}`);
      return;
    }
    if (!errorLogged) logger.warn({ err: err.message }, `${who}: Redis connection error; retrying`);
    errorLogged = true;
  };
  for (const client of clients) client.on('error', onError);
  clients[0]?.on('ready', () => {
    if (errorLogged) logger.info(`${who}: Redis connection ready`);
    errorLogged = false;
  });
}

/**
 * A second connection with the same settings, for blocking reads of the change feed. It shares the
 * client's TLS files: a failed re-read is reported on `client`.
 */
export function duplicateForBlocking(client: RedisClient, commandTimeoutMs: number): RedisClient {
  if (client instanceof Cluster) {
    return client.duplicate(undefined, {
      redisOptions: { ...client.options.redisOptions, commandTimeout: commandTimeoutMs },
    });
  }
  return client.duplicate({ commandTimeout: commandTimeoutMs });
}

export function isReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

/** Describes a topology for logs, status and `weft check` without secrets. */
export function describeRedis(config: RedisConfig): string {
  switch (config.mode) {
    case 'standalone': {
      try {
        const url = new URL(config.url);
        return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
      } catch {
        return 'an unparseable URL';
      }
    }
    case 'sentinel':
      return `sentinel ${config.name} via ${config.sentinels.map(describeNode).join(',')}`;
    case 'cluster':
      return `cluster via ${config.nodes.map(describeNode).join(',')}`;
  }
}

/** host:port, an IPv6 host in brackets. (gateway's formatHostPort: discovery does not import gateway.) */
function describeNode({ host, port }: { readonly host: string; readonly port: number }): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Resolves once the client is ready, after timeoutMs, or on abort, whichever comes first. */
export function whenReady(client: RedisClient, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (client.status === 'ready' || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
