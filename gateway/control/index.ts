// The control API (listen.control): gRPC weft.registry.v1.Registry for local agents (registry.proto).
export { ControlServer, type ControlServerOptions, isLoopback } from './control-server.js';
export { RegistryClient, registrationMessage, type RegistrationInput } from './registry-client.js';
export { REGISTRY_PROTO, registryClientConstructor } from './registry-proto.js';
export type {
  RegistrationMessage,
  EndpointMessage,
  HoldRequest,
  HoldResponse,
  FabricStateMessage,
  ClusterMessage,
  GatewayMessage,
  ServiceExportMessage,
} from './registry-proto.js';
