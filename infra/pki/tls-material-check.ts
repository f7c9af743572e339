// Validation of a gateway's TLS files before they are used: the key matches the certificate, every
// certificate in the chain is within its validity period, and the chain leads to a certificate in the
// CA bundle. Every error names the file and says what is wrong, so `weft check` and the reloader can
// print it as is.
import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { InfraError } from '../errors.js';
import { MAX_CHAIN_DEPTH, walkToAnchor } from './certificate-chain.js';
import type { TlsFilePaths } from './gateway-files.js';
import { parseCertificateBundle } from './pem-bundle.js';
import { gatewayIdentityOf } from './peer-identity.js';
import { spiffeIdFor, type GatewayIdentity } from './spiffe-id.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** The file contents that were checked, with what the checks learned about them. */
export interface CheckedTlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly leaf: X509Certificate;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Node's upper-case hex serial of the leaf. */
  readonly serialNumber: string;
  /** The gateway identity the leaf proves; undefined for a certificate without a gateway SPIFFE ID. */
  readonly identity: GatewayIdentity | undefined;
}

/**
 * CERT_INVALID for files whose only fault found so far is a certificate not valid yet (an issuer whose
 * clock runs ahead): unlike the other faults, time alone may cure it, at `validFromMs`.
 */
export class NotYetValidError extends InfraError {
  readonly validFromMs: number;

  constructor(message: string, validFromMs: number) {
    super('CERT_INVALID', message);
    this.validFromMs = validFromMs;
  }
}

export interface TlsMaterialFiles {
  readonly paths: TlsFilePaths;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Throws InfraError CERT_INVALID naming the file and the problem; returns the checked material. */
export function checkTlsMaterial(
  files: TlsMaterialFiles,
  now: number,
  expectedIdentity?: GatewayIdentity,
): CheckedTlsMaterial {
  const { paths } = files;
  const anchors = parseBundle(paths.ca, files.ca);
  const chain = parseBundle(paths.cert, files.cert);
  const leaf = chain[0] as X509Certificate;
  const key = parseKey(paths.key, files.key);
  if (!leaf.checkPrivateKey(key)) {
    throw invalid(`${paths.key} is not the key of the certificate in ${paths.cert}`);
  }
  if (leaf.ca)
    throw invalid(`${paths.cert} starts with a CA certificate; the gateway certificate must come first`);
  const usages = leaf.keyUsage as string[] | undefined;
  if (usages && !(usages.includes(SERVER_AUTH) && usages.includes(CLIENT_AUTH))) {
    throw invalid(
      `${paths.cert} lacks extended key usage serverAuth and clientAuth, which gateways need both of`,
    );
  }
  chain.forEach((cert, index) => checkValidity(paths.cert, cert, index, now));
  checkChain(paths, leaf, chain.slice(1), anchors, now);
  const identity = gatewayIdentityOf(leaf);
  if (expectedIdentity) {
    const want = spiffeIdFor(expectedIdentity.trustDomain, expectedIdentity.cluster);
    if (!identity) throw invalid(`${paths.cert} has no gateway SPIFFE ID; expected ${want}`);
    const got = spiffeIdFor(identity.trustDomain, identity.cluster);
    if (got !== want) throw invalid(`${paths.cert} is ${got}; expected ${want}`);
  }
  return {
    ca: files.ca,
    cert: files.cert,
    key: files.key,
    leaf,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serialNumber: leaf.serialNumber,
    identity,
  };
}

function checkChain(
  paths: TlsFilePaths,
  leaf: X509Certificate,
  intermediates: X509Certificate[],
  anchors: X509Certificate[],
  now: number,
): void {
  const end = walkToAnchor(leaf, intermediates, anchors);
  if (end.anchor) {
    if (Date.parse(end.anchor.validTo) <= now) {
      throw invalid(`${paths.ca}: the CA that issued ${paths.cert} expired ${isoOf(end.anchor.validTo)}`);
    }
    return;
  }
  if (end.tooLong) throw invalid(`${paths.cert}: certificate chain is longer than ${MAX_CHAIN_DEPTH}`);
  throw invalid(
    `${paths.cert} does not chain to ${paths.ca}: no CA there signed "${oneLine(end.unsigned.issuer)}" ` +
      `(is it from another trust anchor?)`,
  );
}

function checkValidity(path: string, cert: X509Certificate, index: number, now: number): void {
  const which = index === 0 ? `the certificate in ${path}` : `${path}: chain certificate #${index + 1}`;
  const validFromMs = Date.parse(cert.validFrom);
  if (validFromMs > now) {
    throw new NotYetValidError(`${which} is not valid until ${isoOf(cert.validFrom)}`, validFromMs);
  }
  if (Date.parse(cert.validTo) <= now) throw invalid(`${which} expired ${isoOf(cert.validTo)}`);
}

function parseBundle(path: string, pem: Buffer): X509Certificate[] {
  try {
    return parseCertificateBundle(pem.toString('utf8'));
  } catch (err) {
    throw invalid(`${path} ${(err as Error).message}`, err);
  }
}

function parseKey(path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw invalid(`${path} is not a PEM private key`, err);
  }
}

function isoOf(nodeDate: string): string {
  return new Date(nodeDate).toISOString();
}

function oneLine(name: string): string {
  return name.split('\n').join(', ');
}

function invalid(message: string, cause?: unknown): InfraError {
  return new InfraError('CERT_INVALID', message, cause === undefined ? undefined : { cause });
}
