// infra: the fabric's PKI (trust anchor, gateway certificates) and DNS publishers.
export { InfraError, type InfraErrorCode } from './errors.js';
export { canonicalIp, formatHostPort } from './ip-address.js';
export {
  isClusterName,
  isTrustDomain,
  spiffeIdFor,
  gatewayDnsNameFor,
  parseGatewayIdentity,
  type GatewayIdentity,
} from './pki/spiffe-id.js';
export {
  gatewayIdentityOf,
  verifyPeerIdentity,
  checkServerIdentityFor,
  callerIdentityOf,
  type CertificateLike,
} from './pki/peer-identity.js';
export {
  createTrustAnchor,
  CLOCK_SKEW_MS,
  DEFAULT_ROOT_VALIDITY_MS,
  DEFAULT_INTERMEDIATE_VALIDITY_MS,
  type TrustAnchor,
  type IssuerMaterial,
  type CreateTrustAnchorOptions,
} from './pki/trust-anchor.js';
export {
  issueGatewayCertificate,
  DEFAULT_GATEWAY_TTL_MS,
  type IssueGatewayCertificateOptions,
  type IssuedGatewayCertificate,
} from './pki/gateway-certificate.js';
export {
  ANCHOR_FILES,
  existingAnchorFiles,
  writeTrustAnchorFiles,
  readTrustAnchorFiles,
  readFabricManifest,
  type FabricManifest,
} from './pki/anchor-files.js';
export {
  GATEWAY_FILES,
  gatewayFilePaths,
  writeGatewayCertificateFiles,
  type TlsFilePaths,
} from './pki/gateway-files.js';
export { parseCertificateBundle } from './pki/pem-bundle.js';
export { connectionStillAnchored, peerChainsTo, walkToAnchor } from './pki/certificate-chain.js';
export { droppedRoots, trustBundle } from './pki/trust-bundle.js';
export {
  checkTlsMaterial,
  type CheckedTlsMaterial,
  type TlsMaterialFiles,
} from './pki/tls-material-check.js';
export {
  TlsMaterial,
  DEFAULT_TLS_POLL_INTERVAL_MS,
  DEFAULT_TLS_SETTLE_MS,
  type TlsMaterialOptions,
  type TlsMaterialSnapshot,
  type TlsReloadOutcome,
  type TlsMaterialListener,
  type TlsMaterialErrorListener,
} from './pki/tls-material.js';
export * from './dns/index.js';
