// gateway: the data plane, its listeners and the CLI. Everything outside this folder imports from here.
export { GatewayError, type GatewayErrorCode } from './errors.js';
export {
  AdminServer,
  type AdminServerOptions,
  type GatewayIdentity,
  type StatusResponse,
} from './admin/index.js';
export { ControlServer, type ControlServerOptions, RegistryClient, REGISTRY_PROTO } from './control/index.js';
export { MeshDnsServer, type MeshDnsServerOptions } from './dns-server/index.js';
export {
  DataPlane,
  type DataPlaneOptions,
  type DataPlaneState,
  type RouteState,
  type EndpointState,
} from './data-plane.js';
export type { AttemptOutcome, OutcomeKind, OutcomeListener } from './routing/outcome.js';
export type { PeerState, TlsCredentials } from './transport/peer-transport.js';
