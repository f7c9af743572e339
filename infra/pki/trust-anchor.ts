// The fabric's trust anchor: a self-signed ECDSA P-256 root and, optionally, an intermediate issuer
// (pathLen 0) so the root key can stay offline. Gateways trust only the root; the intermediate travels
// in each gateway's certificate chain.
import type { X509Certificate } from '@peculiar/x509';
import { randomSerialNumber } from './certificate-serial.js';
import { ECDSA_P256, generateEcdsaKeyPair, privateKeyToPem } from './ecdsa-key.js';
import { isTrustDomain } from './spiffe-id.js';
import { loadX509 } from './x509-library.js';

const DAY_MS = 86_400_000;
export const DEFAULT_ROOT_VALIDITY_MS = 3650 * DAY_MS;
export const DEFAULT_INTERMEDIATE_VALIDITY_MS = 1825 * DAY_MS;
/** Certificates start this far in the past so a peer whose clock is slightly behind accepts them. */
export const CLOCK_SKEW_MS = 60_000;

/** A CA certificate and its private key, both PEM. */
export interface IssuerMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TrustAnchor {
  readonly trustDomain: string;
  /** The self-signed root: the trust bundle every gateway is configured with. */
  readonly root: IssuerMaterial;
  /** When present, gateway certificates are signed by this instead of the root. */
  readonly intermediate?: IssuerMaterial;
}

export interface CreateTrustAnchorOptions {
  readonly trustDomain: string;
  readonly intermediate?: boolean;
  readonly rootValidityMs?: number;
  readonly intermediateValidityMs?: number;
  /** Clock, ms since the epoch; for tests. */
  readonly now?: number;
}

export async function createTrustAnchor(options: CreateTrustAnchorOptions): Promise<TrustAnchor> {
  const { trustDomain } = options;
  if (!isTrustDomain(trustDomain)) throw new RangeError(`"${trustDomain}" is not a valid trust domain`);
  const x509 = await loadX509();
  const now = options.now ?? Date.now();
  const notBefore = new Date(now - CLOCK_SKEW_MS);
  const rootKeys = await generateEcdsaKeyPair();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: ['weft root CA'] }, { O: [trustDomain] }],
    keys: rootKeys,
    signingAlgorithm: ECDSA_P256,
    notBefore,
    notAfter: new Date(now + (options.rootValidityMs ?? DEFAULT_ROOT_VALIDITY_MS)),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const rootMaterial = { certPem: pemOf(root), keyPem: await privateKeyToPem(rootKeys.privateKey) };
  if (!options.intermediate) return { trustDomain, root: rootMaterial };

  const keys = await generateEcdsaKeyPair();
  const intermediateNotAfter = Math.min(
    now + (options.intermediateValidityMs ?? DEFAULT_INTERMEDIATE_VALIDITY_MS),
    root.notAfter.getTime(),
  );
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ CN: ['weft intermediate CA'] }, { O: [trustDomain] }],
    issuer: root.subjectName,
    publicKey: keys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: ECDSA_P256,
    notBefore,
    notAfter: new Date(intermediateNotAfter),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  return {
    trustDomain,
    root: rootMaterial,
    intermediate: { certPem: pemOf(intermediate), keyPem: await privateKeyToPem(keys.privateKey) },
  };
}

/** PEM with a trailing newline, so certificates concatenate into valid bundles. */
export function pemOf(cert: X509Certificate): string {
  return `${cert.toString('pem').trim()}\n`;
}
