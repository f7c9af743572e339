// The trust bundle (`ca.pem`) written beside a gateway certificate: the issuing anchor's root, plus any
// roots the operator asks to keep trusting (another anchor's, while a fabric rolls over to a new root).
// Re-issuing replaces the file, so the roots it drops are named for the operator.
import type { X509Certificate } from 'node:crypto';
import { parseCertificateBundle } from './pem-bundle.js';

/** `root` first, then each certificate of `alsoTrusted` not already in the bundle, as PEM text. */
export function trustBundle(root: string, alsoTrusted: readonly X509Certificate[]): string {
  const bundle = parseCertificateBundle(root);
  for (const cert of alsoTrusted) {
    if (!bundle.some((kept) => kept.fingerprint256 === cert.fingerprint256)) bundle.push(cert);
  }
  return bundle.map((cert) => cert.toString()).join('');
}

/** The certificates of the `previous` bundle text that `next` no longer holds (none when it is unreadable). */
export function droppedRoots(previous: string, next: string): X509Certificate[] {
  let before: X509Certificate[];
  try {
    before = parseCertificateBundle(previous);
  } catch {
    return [];
  }
  const after = new Set(parseCertificateBundle(next).map((cert) => cert.fingerprint256));
  return before.filter((cert) => !after.has(cert.fingerprint256));
}
