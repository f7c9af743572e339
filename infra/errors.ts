// The base error of the infra layer: certificates, keys, DNS providers.

export type InfraErrorCode =
  | 'CERT_INVALID'
  | 'CERT_IO'
  | 'PEER_IDENTITY'
  | 'DNS_PROVIDER'
  | 'DNS_THROTTLED'
  | 'DNS_NOT_LEADER'
  | 'DNS_CONFLICT'
  | 'DNS_INVALID';

export class InfraError extends Error {
  readonly code: InfraErrorCode;

  constructor(code: InfraErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfraError';
    this.code = code;
  }
}
