// Short-lived gateway certificates: ECDSA P-256, URI SAN spiffe://<td>/cluster/<cluster>/gateway (plus
// a DNS SAN <cluster>.gateway.<td>), serverAuth+clientAuth, signed by the anchor's intermediate when it
// has one, else by the root. The certificate PEM carries the intermediate too, so a peer that trusts
// only the root verifies it.
import type { webcrypto } from 'node:crypto';
import { InfraError } from '../errors.js';
import { randomSerialNumber } from './certificate-serial.js';
import { ECDSA_P256, generateEcdsaKeyPair, importSigningKey, privateKeyToPem } from './ecdsa-key.js';
import { gatewayDnsNameFor, isClusterName, spiffeIdFor } from './spiffe-id.js';
import { CLOCK_SKEW_MS, pemOf, type TrustAnchor } from './trust-anchor.js';
import { loadX509 } from './x509-library.js';

export const DEFAULT_GATEWAY_TTL_MS = 24 * 3_600_000;

export interface IssueGatewayCertificateOptions {
  readonly anchor: TrustAnchor;
  readonly cluster: string;
  /** Lifetime from now; default 24h. The certificate also starts CLOCK_SKEW_MS in the past. */
  readonly ttlMs?: number;
  /** Clock, ms since the epoch; for tests (an already-expired certificate, for one). */
  readonly now?: number;
}

export interface IssuedGatewayCertificate {
  readonly spiffeId: string;
  /** Leaf first, then the intermediate when there is one. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The root: the trust bundle to configure next to this certificate. */
  readonly caPem: string;
  /** Upper-case hex, as Node prints it (`getPeerCertificate().serialNumber`, X509Certificate). */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Issues a gateway certificate. Throws RangeError on a bad cluster name or TTL, and InfraError
 * CERT_INVALID when the issuer cannot sign it (unusable key, or the issuer expires before the TTL).
 */
export async function issueGatewayCertificate(
  options: IssueGatewayCertificateOptions,
): Promise<IssuedGatewayCertificate> {
  const { anchor, cluster } = options;
  if (!isClusterName(cluster)) throw new RangeError(`"${cluster}" is not a valid cluster name`);
  const ttlMs = options.ttlMs ?? DEFAULT_GATEWAY_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError(`TTL must be a positive duration, got ${ttlMs}`);
  const spiffeId = spiffeIdFor(anchor.trustDomain, cluster);
  const issuerMaterial = anchor.intermediate ?? anchor.root;
  const issuerName = anchor.intermediate ? 'intermediate' : 'root';
  const x509 = await loadX509();
  const issuer = new x509.X509Certificate(issuerMaterial.certPem);
  const now = options.now ?? Date.now();
  const notBefore = new Date(now - CLOCK_SKEW_MS);
  const notAfter = new Date(now + ttlMs);
  if (notAfter > issuer.notAfter) {
    throw new InfraError(
      'CERT_INVALID',
      `the ${issuerName} certificate expires ${issuer.notAfter.toISOString()}, before the requested ` +
        `gateway certificate would (${notAfter.toISOString()}); issue a shorter TTL or renew the ${issuerName}`,
    );
  }
  let signingKey: webcrypto.CryptoKey;
  try {
    signingKey = await importSigningKey(issuerMaterial.keyPem);
  } catch (err) {
    const what = err instanceof Error ? err.message : String(err);
    throw new InfraError('CERT_INVALID', `the ${issuerName} key ${what}`, { cause: err });
  }

  const keys = await generateEcdsaKeyPair();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: [gatewayDnsNameFor(anchor.trustDomain, cluster)] }, { O: [anchor.trustDomain] }],
    issuer: issuer.subjectName,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: ECDSA_P256,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: spiffeId },
        { type: 'dns', value: gatewayDnsNameFor(anchor.trustDomain, cluster) },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
    ],
  });
  const chain = anchor.intermediate ? pemOf(leaf) + pemOf(issuer) : pemOf(leaf);
  return {
    spiffeId,
    certPem: chain,
    keyPem: await privateKeyToPem(keys.privateKey),
    caPem: pemOf(new x509.X509Certificate(anchor.root.certPem)),
    serialNumber: leaf.serialNumber.toUpperCase(),
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
  };
}
