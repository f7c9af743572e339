// The control API's wire contract: loads registry.proto (shipped beside this file, found through the
// package root so the TypeScript sources and the compiled dist/ tree both work) and names the message
// shapes as proto-loader decodes them (camelCase fields, 64-bit integers as numbers, oneof names set).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fromPackageRoot } from '../package-root.js';

export const REGISTRY_PROTO = fromPackageRoot('gateway/control/registry.proto');

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface EndpointMessage {
  address: string;
  weight: number;
}

export interface RegistrationMessage {
  name: string;
  namespace: string;
  protocol: string;
  endpoints: EndpointMessage[];
  allow: string[];
}

export interface RegisterRequest {
  registration?: RegistrationMessage | null;
}
export interface RegisterResponse {
  id: string;
}
export interface DeregisterRequest {
  id: string;
}
export type DeregisterResponse = Record<string, never>;

export interface HoldRequest {
  register?: RegistrationMessage | null;
  deregister?: string;
  action?: 'register' | 'deregister';
}
/** Decoded responses also name the oneof member set: `result: 'registered' | 'deregistered'`. */
export type HoldResponse = ({ registered: string } | { deregistered: string }) & {
  result?: 'registered' | 'deregistered';
};

export type WatchRequest = Record<string, never>;

export interface ServiceExportMessage {
  service: string;
  protocol: string;
  allow: string[];
  endpointsTotal: number;
  endpointsHealthy: number;
}

export interface GatewayMessage {
  id: string;
  peerAddress: string;
  version: string;
  freshness: string;
  leaseExpiresAtMs: number;
}

export interface ClusterMessage {
  name: string;
  locality: { cloud: string; region: string; zone: string };
  freshness: string;
  staleSinceMs: number;
  gateways: GatewayMessage[];
  services: ServiceExportMessage[];
}

export interface FabricStateMessage {
  revision: number;
  initial: boolean;
  source: string;
  connected: boolean;
  syncedAtMs: number;
  clusters: ClusterMessage[];
}

export type RegistryClientConstructor = typeof grpc.Client & { service: grpc.ServiceDefinition };

let loaded: RegistryClientConstructor | undefined;

/** The generated `weft.registry.v1.Registry` client constructor; `.service` is the server definition. */
export function registryClientConstructor(): RegistryClientConstructor {
  if (!loaded) {
    const definition = protoLoader.loadSync(REGISTRY_PROTO, PROTO_LOADER_OPTIONS);
    const root = grpc.loadPackageDefinition(definition);
    const v1 = ((root.weft as grpc.GrpcObject).registry as grpc.GrpcObject).v1 as grpc.GrpcObject;
    loaded = v1.Registry as RegistryClientConstructor;
  }
  return loaded;
}
