// The base error of the discovery layer: Redis connectivity, record validation, snapshot persistence.

export type DiscoveryErrorCode =
  | 'REDIS_UNAVAILABLE'
  | 'RECORD_INVALID'
  | 'OPTIONS_INVALID'
  | 'SNAPSHOT_UNREADABLE'
  | 'SNAPSHOT_WRITE'
  | 'CLOSED';

export class DiscoveryError extends Error {
  readonly code: DiscoveryErrorCode;

  constructor(code: DiscoveryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiscoveryError';
    this.code = code;
  }
}
