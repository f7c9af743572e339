// infra: the fabric's PKI (trust anchor, gateway certificates) and DNS publishers.
export { InfraError, type InfraErrorCode } from './errors.js';
