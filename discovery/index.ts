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
} from './fabric.js';
