// A gateway's certificate directory: gateway.pem (leaf + intermediate), gateway.key (0600) and ca.pem
// (the trust bundle). Each file is replaced atomically, so re-issuing into the directory a gateway
// watches is how certificates are rotated.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, writeFileAtomic } from './atomic-file.js';
import type { IssuedGatewayCertificate } from './gateway-certificate.js';

export const GATEWAY_FILES = { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' } as const;

/** Paths of the three PEM files a gateway's `tls:` config names. */
export interface TlsFilePaths {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export function gatewayFilePaths(dir: string): TlsFilePaths {
  return {
    ca: join(dir, GATEWAY_FILES.ca),
    cert: join(dir, GATEWAY_FILES.cert),
    key: join(dir, GATEWAY_FILES.key),
  };
}

/**
 * Writes (or replaces) the gateway files in `dir`, created 0700 when missing. `ca.pem` is `trust` when
 * given (see trust-bundle.ts), else the issuing root.
 */
export async function writeGatewayCertificateFiles(
  dir: string,
  issued: IssuedGatewayCertificate,
  trust: string = issued.caPem,
): Promise<TlsFilePaths> {
  const paths = gatewayFilePaths(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(paths.ca, trust, PUBLIC_FILE_MODE);
  await writeFileAtomic(paths.key, issued.keyPem, PRIVATE_FILE_MODE);
  await writeFileAtomic(paths.cert, issued.certPem, PUBLIC_FILE_MODE);
  return paths;
}
