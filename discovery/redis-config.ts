// How to reach the fabric's Redis: standalone (URL), Sentinel, or Cluster; optional TLS and ACL auth.
// The gateway config is parsed into this shape; discovery turns it into an ioredis client.

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisTlsConfig {
  /** Absolute paths to PEM files. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly insecureSkipVerify: boolean;
}

interface RedisCommon {
  readonly username?: string;
  readonly password?: string;
  readonly tls?: RedisTlsConfig;
}

export type RedisConfig =
  | (RedisCommon & { readonly mode: 'standalone'; readonly url: string })
  | (RedisCommon & {
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisNode[];
      readonly name: string;
      readonly db: number;
      readonly sentinelUsername?: string;
      readonly sentinelPassword?: string;
    })
  | (RedisCommon & { readonly mode: 'cluster'; readonly nodes: readonly RedisNode[] });
