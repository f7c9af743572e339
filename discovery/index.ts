// discovery: the fabric's shared registry over Redis. Everything outside this folder imports from here.
export { DiscoveryError, type DiscoveryErrorCode } from './errors.js';
export type { RedisConfig, RedisTlsConfig, RedisNode } from './redis-config.js';
export type {
  Protocol,
  Locality,
  ServiceExport,
  Freshness,
  GatewayRecord,
  GatewayView,
  ClusterView,
  FabricSnapshot,
  FabricView,
  LeaseLookup,
} from './fabric.js';
export { MAX_ALLOWED_CLUSTERS } from './fabric.js';
export { Discovery } from './discovery.js';
export { sleep } from './backoff.js';
export { createRedisClient, describeRedis, logOutages, whenReady, type RedisClient } from './redis-client.js';
export type { DiscoveryOptions } from './options.js';
export type { DiscoveryStatus, DiscoveryMode, StaleClusterStatus, SkippedRecord } from './status.js';
export type { SkipReason } from './records.js';
export { KEY_PREFIX, KEY_LAYOUT_VERSION, compareNames } from './keys.js';
export {
  StatsStore,
  statsKey,
  decodeStatsRecord,
  STATS_KEY_PREFIX,
  MAX_STATS_EDGES,
  MAX_STATS_PEERS,
  MAX_STATS_EVENTS,
  type GatewayStatsRecord,
  type EdgeStatsRecord,
  type PeerLinkRecord,
  type FabricEventRecord,
  type StatsReadResult,
} from './stats-store.js';
export { readGatewayDirectory, type GatewayDirectory, type DirectoryGateway } from './gateway-directory.js';
