// The trust anchor on disk: ca.pem, ca.key (0600), optionally intermediate.pem and intermediate.key
// (0600), and fabric.json naming the trust domain. Reading validates everything a signer relies on,
// with errors naming the file and what is wrong.
import type { X509Certificate } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError } from '../errors.js';
import { pathExists, readTextFile } from './file-access.js';
import { PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, writeFileAtomic } from './atomic-file.js';
import { parseCertificateBundle } from './pem-bundle.js';
import { isTrustDomain } from './spiffe-id.js';
import type { IssuerMaterial, TrustAnchor } from './trust-anchor.js';

export const ANCHOR_FILES = {
  rootCert: 'ca.pem',
  rootKey: 'ca.key',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key',
  manifest: 'fabric.json',
} as const;

/** What fabric.json holds. */
export interface FabricManifest {
  readonly trustDomain: string;
}

/** Anchor files already in `dir` that writing a new anchor would replace. */
export async function existingAnchorFiles(dir: string): Promise<string[]> {
  const paths = Object.values(ANCHOR_FILES).map((name) => join(dir, name));
  const present = await Promise.all(paths.map((path) => pathExists(path)));
  return paths.filter((_, index) => present[index]);
}

/**
 * Writes the anchor into `dir` (created 0700 when missing) and returns the paths written. Refuses, with
 * CERT_IO, when anchor files exist and `overwrite` is not set. Overwriting an anchor without an
 * intermediate removes a stale intermediate, which would otherwise keep signing for the old root.
 */
export async function writeTrustAnchorFiles(
  dir: string,
  anchor: TrustAnchor,
  options: { overwrite?: boolean } = {},
): Promise<string[]> {
  const existing = await existingAnchorFiles(dir);
  if (existing.length > 0 && !options.overwrite) {
    throw new InfraError(
      'CERT_IO',
      `${existing.join(', ')} already exist; refusing to replace a trust anchor`,
    );
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  const write = async (name: string, data: string, mode: number) => {
    const path = join(dir, name);
    await writeFileAtomic(path, data, mode);
    written.push(path);
  };
  await write(ANCHOR_FILES.rootKey, anchor.root.keyPem, PRIVATE_FILE_MODE);
  await write(ANCHOR_FILES.rootCert, anchor.root.certPem, PUBLIC_FILE_MODE);
  if (anchor.intermediate) {
    await write(ANCHOR_FILES.intermediateKey, anchor.intermediate.keyPem, PRIVATE_FILE_MODE);
    await write(ANCHOR_FILES.intermediateCert, anchor.intermediate.certPem, PUBLIC_FILE_MODE);
  } else {
    await rm(join(dir, ANCHOR_FILES.intermediateKey), { force: true });
    await rm(join(dir, ANCHOR_FILES.intermediateCert), { force: true });
  }
  const manifest: FabricManifest = { trustDomain: anchor.trustDomain };
  await write(ANCHOR_FILES.manifest, `${JSON.stringify(manifest, null, 2)}\n`, PUBLIC_FILE_MODE);
  return written;
}

/** fabric.json of an anchor directory; undefined when the file does not exist (an anchor made elsewhere). */
export async function readFabricManifest(dir: string): Promise<FabricManifest | undefined> {
  const path = join(dir, ANCHOR_FILES.manifest);
  if (!(await pathExists(path))) return undefined;
  const text = await readTextFile(path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InfraError('CERT_INVALID', `${path} is not JSON`, { cause: err });
  }
  const trustDomain = (parsed as { trustDomain?: unknown } | null)?.trustDomain;
  if (typeof trustDomain !== 'string' || !isTrustDomain(trustDomain)) {
    throw new InfraError('CERT_INVALID', `${path} must hold {"trustDomain": "<lower-case DNS name>"}`);
  }
  return { trustDomain };
}

/**
 * Reads and checks an anchor directory: each certificate parses, is a currently valid CA, its key
 * matches, and the intermediate (if both its files are present) is signed by the root.
 */
export async function readTrustAnchorFiles(
  dir: string,
  trustDomain: string,
  options: { now?: number } = {},
): Promise<TrustAnchor> {
  if (!(await pathExists(dir)))
    throw new InfraError('CERT_IO', `trust anchor directory ${dir} does not exist`);
  const now = options.now ?? Date.now();
  const root = await readIssuer(dir, ANCHOR_FILES.rootCert, ANCHOR_FILES.rootKey, now);
  if (!root.cert.checkIssued(root.cert) || !root.cert.verify(root.cert.publicKey)) {
    throw new InfraError('CERT_INVALID', `${join(dir, ANCHOR_FILES.rootCert)} is not a self-signed root`);
  }
  const hasCert = await pathExists(join(dir, ANCHOR_FILES.intermediateCert));
  const hasKey = await pathExists(join(dir, ANCHOR_FILES.intermediateKey));
  if (hasCert !== hasKey) {
    const missing = join(dir, hasCert ? ANCHOR_FILES.intermediateKey : ANCHOR_FILES.intermediateCert);
    throw new InfraError(
      'CERT_INVALID',
      `${missing} is missing: an intermediate needs both its .pem and .key`,
    );
  }
  if (!hasCert) return { trustDomain, root: root.material };
  const intermediate = await readIssuer(
    dir,
    ANCHOR_FILES.intermediateCert,
    ANCHOR_FILES.intermediateKey,
    now,
  );
  if (!intermediate.cert.checkIssued(root.cert) || !intermediate.cert.verify(root.cert.publicKey)) {
    throw new InfraError(
      'CERT_INVALID',
      `${join(dir, ANCHOR_FILES.intermediateCert)} is not signed by ${join(dir, ANCHOR_FILES.rootCert)}`,
    );
  }
  return { trustDomain, root: root.material, intermediate: intermediate.material };
}

async function readIssuer(
  dir: string,
  certName: string,
  keyName: string,
  now: number,
): Promise<{ cert: X509Certificate; material: IssuerMaterial }> {
  const certPath = join(dir, certName);
  const keyPath = join(dir, keyName);
  const certPem = await readTextFile(certPath);
  const keyPem = await readTextFile(keyPath);
  let certs: X509Certificate[];
  try {
    certs = parseCertificateBundle(certPem);
  } catch (err) {
    throw new InfraError('CERT_INVALID', `${certPath} ${(err as Error).message}`, { cause: err });
  }
  const [cert] = certs;
  if (!cert || certs.length !== 1) {
    throw new InfraError(
      'CERT_INVALID',
      `${certPath} must hold exactly one certificate, found ${certs.length}`,
    );
  }
  if (!cert.ca)
    throw new InfraError('CERT_INVALID', `${certPath} is not a CA certificate (basicConstraints CA:false)`);
  if (Date.parse(cert.validTo) <= now) {
    throw new InfraError('CERT_INVALID', `${certPath} expired ${new Date(cert.validTo).toISOString()}`);
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      throw new InfraError('CERT_INVALID', `${keyPath} is not the key of ${certPath}`);
    }
  } catch (err) {
    if (err instanceof InfraError) throw err;
    throw new InfraError('CERT_INVALID', `${keyPath} is not a PEM private key`, { cause: err });
  }
  return { cert, material: { certPem: normalizedPem(certPem), keyPem } };
}

function normalizedPem(text: string): string {
  return `${text.trim()}\n`;
}
