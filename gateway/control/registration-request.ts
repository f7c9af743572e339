// Validates a registration as it arrives on the wire and turns it into a catalog Registration. Every
// problem is reported at once, with its field, so an agent author can fix a request in one go.
import { status } from '@grpc/grpc-js';
import { parseHostPort } from '../config/index.js';
import type { LocalCatalog, Registration } from '../catalog/index.js';
import { GatewayError } from '../errors.js';
import { MAX_ALLOWED_CLUSTERS, type Protocol } from '../../discovery/index.js';
import type { RegistrationMessage } from './registry-proto.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PROTOCOLS: readonly Protocol[] = ['http', 'grpc', 'tcp'];
const MAX_ENDPOINTS = 1000;
const MAX_WEIGHT = 1000;
const LABEL_RULE = "must be a DNS label: lower-case letters, digits and '-', at most 63";

/** A request the control API refuses; `code` is the gRPC status the call ends with. */
export class ControlRequestError extends Error {
  readonly code: status;

  constructor(code: status, message: string) {
    super(message);
    this.name = 'ControlRequestError';
    this.code = code;
  }
}

export function toRegistration(
  message: RegistrationMessage | null | undefined,
  defaultNamespace: string,
): Registration {
  if (!message) throw new ControlRequestError(status.INVALID_ARGUMENT, 'registration is required');
  const problems: string[] = [];
  if (!DNS_LABEL.test(message.name)) problems.push(`name ${JSON.stringify(message.name)} ${LABEL_RULE}`);
  const namespace = message.namespace || defaultNamespace;
  if (!DNS_LABEL.test(namespace)) problems.push(`namespace ${JSON.stringify(namespace)} ${LABEL_RULE}`);
  const protocol = (message.protocol || 'http') as Protocol;
  if (!PROTOCOLS.includes(protocol)) {
    problems.push(`protocol ${JSON.stringify(message.protocol)} must be one of http, grpc, tcp`);
  }
  if (message.endpoints.length === 0) problems.push('endpoints: list at least one host:port');
  if (message.endpoints.length > MAX_ENDPOINTS) {
    problems.push(`endpoints: at most ${MAX_ENDPOINTS} per registration`);
  }
  const endpoints = message.endpoints.slice(0, MAX_ENDPOINTS).flatMap((endpoint, i) => {
    const address = parseHostPort(endpoint.address);
    if (!address || address.port < 1) {
      problems.push(
        `endpoints[${i}].address ${JSON.stringify(endpoint.address)} must be host:port with port 1-65535`,
      );
      return [];
    }
    const weight = endpoint.weight || 1;
    if (weight > MAX_WEIGHT) problems.push(`endpoints[${i}].weight ${weight} must be 1-${MAX_WEIGHT}`);
    return [{ host: address.host, port: address.port, weight }];
  });
  if (message.allow.length > MAX_ALLOWED_CLUSTERS) {
    problems.push(`allow: at most ${MAX_ALLOWED_CLUSTERS} clusters`);
  }
  message.allow.slice(0, MAX_ALLOWED_CLUSTERS).forEach((cluster, i) => {
    if (!DNS_LABEL.test(cluster)) problems.push(`allow[${i}] ${JSON.stringify(cluster)} ${LABEL_RULE}`);
  });
  if (problems.length > 0) {
    throw new ControlRequestError(status.INVALID_ARGUMENT, `invalid registration: ${problems.join('; ')}`);
  }
  return {
    name: message.name,
    namespace,
    protocol,
    endpoints,
    allow: message.allow.length > 0 ? [...message.allow] : null,
  };
}

/** Registers, turning a conflict with the config file into FAILED_PRECONDITION. */
export function registerOrExplain(catalog: LocalCatalog, owner: string, registration: Registration): string {
  try {
    return catalog.register(owner, registration);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'USAGE') {
      throw new ControlRequestError(status.FAILED_PRECONDITION, err.message);
    }
    throw err;
  }
}
