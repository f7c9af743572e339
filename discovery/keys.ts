// The Redis key layout of the registry, version 1. Every key carries the hash tag `{v1}`, so all of them
// live in one Redis Cluster slot: multi-key Lua scripts and pipelines work on every topology. A future
// incompatible layout gets a new tag (`{v2}`) and can run beside this one during a migration.
//
//   weft:{v1}:clusters        hash    cluster name        → ClusterRecord JSON (name, locality)
//   weft:{v1}:gateways        hash    "<cluster>/<id>"    → GatewayRecord JSON (peer address, version, …)
//   weft:{v1}:leases          zset    "<cluster>/<id>"    score = lease end, epoch ms of the Redis clock
//   weft:{v1}:svc:<cluster>/<id>  hash  "name.namespace"  → ServiceRecord JSON, as that replica exports it
//   weft:{v1}:seq             string  feed sequence number, incremented with every feed entry
//   weft:{v1}:feed            stream  change feed: seq, kind (gateway|services|reap), gk, keys (JSON|*)
//
// Heartbeats touch only the lease zset; service documents change only when the exported set changes.

export const KEY_LAYOUT_VERSION = 1;
export const KEY_PREFIX = 'weft:{v1}:';

export const keys = {
  clusters: `${KEY_PREFIX}clusters`,
  gateways: `${KEY_PREFIX}gateways`,
  leases: `${KEY_PREFIX}leases`,
  seq: `${KEY_PREFIX}seq`,
  feed: `${KEY_PREFIX}feed`,
  services: (gatewayKey: string) => `${KEY_PREFIX}svc:${gatewayKey}`,
} as const;

/** Cluster names are DNS labels; replica ids are a little wider (hostnames, pod names). */
export const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const GATEWAY_ID = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/;

/** The member name of one gateway replica in the gateways hash and the lease zset. */
export function gatewayKey(cluster: string, id: string): string {
  return `${cluster}/${id}`;
}

/** Splits a gateway key; undefined when it is not `<cluster>/<id>` with valid parts. */
export function parseGatewayKey(key: string): { cluster: string; id: string } | undefined {
  const slash = key.indexOf('/');
  if (slash < 0) return undefined;
  const cluster = key.slice(0, slash);
  const id = key.slice(slash + 1);
  if (!CLUSTER_NAME.test(cluster) || !GATEWAY_ID.test(id)) return undefined;
  return { cluster, id };
}

/**
 * Orders names (cluster names, gateway ids, service keys) by code unit. Not localeCompare: the names are
 * ASCII, and the first localeCompare in a process pages in ICU's collation data — about 2 MB of an idle
 * gateway's RSS.
 */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
