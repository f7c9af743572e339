// The admin API (listen.admin): /healthz, /readyz, /metrics and read-only JSON views under /api/v1.
export { AdminServer, type AdminServerOptions } from './admin-server.js';
export { ADMIN_ENDPOINTS } from './admin-app.js';
export { registerProcessMetrics } from './process-metrics.js';
export type {
  GatewayIdentity,
  ExportFreshness,
  GatewayJson,
  ClusterJson,
  ServiceExportJson,
  ServiceJson,
  DiscoveryJson,
  ClustersResponse,
  GatewaysResponse,
  ServicesResponse,
  RoutesResponse,
  LocalEndpointJson,
  EndpointsResponse,
  StatusResponse,
  ErrorResponse,
} from './api-types.js';
export type {
  EdgeJson,
  GoldenResponse,
  FabricPicture,
  PictureCluster,
  PictureGateway,
  PictureService,
  PictureLink,
  PictureEvent,
} from './fabric-picture.js';
export { foldEvents } from './fabric-picture.js';
