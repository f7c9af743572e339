// Walking a certificate chain to a trust anchor by issuer names and signatures: for checking a gateway's
// own files before use, and for asking whether a connection verified at its handshake still chains to
// the anchors in force now. Only names and signatures: validity periods, key usages and path constraints
// are not checked here (the file checks look at validity themselves; a connection's were checked by its
// handshake).
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

/** Certificates a walk follows from the leaf before it gives up. */
export const MAX_CHAIN_DEPTH = 8;

/** Where a walk ended: at an anchor, or at the certificate nothing given had signed (or too deep). */
export type ChainEnd =
  | { readonly anchor: X509Certificate }
  | { readonly anchor?: undefined; readonly unsigned: X509Certificate; readonly tooLong: boolean };

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** Follows `leaf` through the CA certificates among `intermediates` to one of `anchors`. */
export function walkToAnchor(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
): ChainEnd {
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const anchor = anchors.find((candidate) => signedBy(current, candidate));
    if (anchor) return { anchor };
    const next = intermediates.find(
      (candidate) => candidate !== current && candidate.ca && signedBy(current, candidate),
    );
    if (!next) return { unsigned: current, tooLong: false };
    current = next;
  }
  return { unsigned: current, tooLong: true };
}

/**
 * Whether a connection's peer certificate chains to one of `anchors`: `cert` is what
 * `socket.getPeerCertificate(true)` (or `checkServerIdentity`) gives, the leaf with the chain the peer
 * sent, completed from the trust store of the handshake. A root of that store no longer in `anchors` is
 * then only one more certificate that no anchor signed. False without a certificate (`null`: the socket
 * is destroyed) or for one that does not parse.
 */
export function peerChainsTo(
  cert: DetailedPeerCertificate | null,
  anchors: readonly X509Certificate[],
): boolean {
  if (!cert?.raw) return false;
  const chain: X509Certificate[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  try {
    for (let link: DetailedPeerCertificate | undefined = cert; link?.raw && !seen.has(link);) {
      seen.add(link);
      chain.push(new X509Certificate(link.raw));
      link = link.issuerCertificate;
    }
    const [leaf, ...intermediates] = chain;
    return leaf !== undefined && walkToAnchor(leaf, intermediates, anchors).anchor !== undefined;
  } catch {
    // A certificate that does not parse or verify (OpenSSL accepted it, so this is not expected) proves
    // nothing: not anchored, rather than an exception in a TLS callback.
    return false;
  }
}

/**
 * Whether an established connection may stay once `anchors` are in force: its peer's certificate chains
 * to them, or the socket is already destroyed (nothing left to close).
 */
export function connectionStillAnchored(socket: TLSSocket, anchors: readonly X509Certificate[]): boolean {
  return socket.destroyed || peerChainsTo(socket.getPeerCertificate(true), anchors);
}
