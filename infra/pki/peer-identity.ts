// Reading and checking the gateway identity a peer's certificate proves. The chain was already
// verified by TLS; this decides *who* the verified peer is. A gateway dialling cluster B accepts only
// `spiffe://<td>/cluster/B/gateway` (checkServerIdentityFor), whatever address discovery gave, and a
// gateway accepting a connection learns the caller's cluster from the same SAN (callerIdentityOf).
// Failures are returned as values, never thrown, so they fit tls `checkServerIdentity` directly.
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { InfraError } from '../errors.js';
import { parseGatewayIdentity, spiffeIdFor, type GatewayIdentity } from './spiffe-id.js';

/** A certificate as Node hands it out: from `socket.getPeerCertificate()` or `new X509Certificate()`. */
export type CertificateLike = PeerCertificate | X509Certificate;

/**
 * The gateway identity in the certificate's URI SAN, or undefined when there is none, when the URI is
 * not a gateway SPIFFE ID, or when there is more than one URI SAN (an X.509-SVID has exactly one).
 */
export function gatewayIdentityOf(cert: CertificateLike): GatewayIdentity | undefined {
  const uris = uriSansOf(cert);
  if (uris.length !== 1) return undefined;
  return parseGatewayIdentity(uris[0] ?? '');
}

/**
 * Undefined when the certificate proves `expected`, else a PEER_IDENTITY error saying what it proves
 * instead. Pure: safe to call from `checkServerIdentity` on every handshake.
 */
export function verifyPeerIdentity(cert: CertificateLike, expected: GatewayIdentity): InfraError | undefined {
  const want = spiffeIdFor(expected.trustDomain, expected.cluster);
  const found = gatewayIdentityOf(cert);
  if (!found)
    return new InfraError('PEER_IDENTITY', `peer certificate ${describeUris(cert)}; expected ${want}`);
  if (found.trustDomain === expected.trustDomain && found.cluster === expected.cluster) return undefined;
  const got = spiffeIdFor(found.trustDomain, found.cluster);
  return new InfraError('PEER_IDENTITY', `peer certificate is ${got}; expected ${want}`);
}

/**
 * A `checkServerIdentity` for `tls.connect` that accepts only the gateways of one cluster. The host
 * name is ignored on purpose: identity comes from the SPIFFE ID, not from the address dialled.
 */
export function checkServerIdentityFor(
  expected: GatewayIdentity,
): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (_hostname, cert) => verifyPeerIdentity(cert, expected);
}

/**
 * The calling gateway's identity on an accepted connection, or a PEER_IDENTITY error when the
 * certificate proves no gateway identity or one from another trust domain.
 */
export function callerIdentityOf(cert: CertificateLike, trustDomain: string): GatewayIdentity | InfraError {
  const found = gatewayIdentityOf(cert);
  if (!found) {
    return new InfraError(
      'PEER_IDENTITY',
      `caller certificate ${describeUris(cert)}; expected a gateway of ${trustDomain}`,
    );
  }
  if (found.trustDomain !== trustDomain) {
    return new InfraError(
      'PEER_IDENTITY',
      `caller is ${spiffeIdFor(found.trustDomain, found.cluster)}, outside trust domain ${trustDomain}`,
    );
  }
  return found;
}

function describeUris(cert: CertificateLike): string {
  const uris = uriSansOf(cert);
  if (uris.length === 0) return 'has no URI SAN';
  if (uris.length > 1) return `has ${uris.length} URI SANs (${uris.join(', ')}), a gateway has exactly one`;
  return `has URI SAN ${uris[0]}, which is not a gateway SPIFFE ID`;
}

function uriSansOf(cert: CertificateLike): string[] {
  const text = 'subjectAltName' in cert ? cert.subjectAltName : cert.subjectaltname;
  if (!text) return [];
  return parseSubjectAltNames(text)
    .filter((entry) => entry.type === 'URI')
    .map((entry) => entry.value);
}

interface SanEntry {
  readonly type: string;
  readonly value: string;
}

/**
 * Parses Node's SAN text (`URI:spiffe://a/b, DNS:x.test`). Node JSON-quotes values that contain
 * separators or quotes, so a crafted SAN cannot smuggle a second entry past a naive split on ", ".
 */
function parseSubjectAltNames(text: string): SanEntry[] {
  const entries: SanEntry[] = [];
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) break;
    const type = text.slice(at, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = closingQuote(text, colon + 2);
      value = decodeQuoted(text.slice(colon + 1, end + 1));
      end += 1;
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    entries.push({ type, value });
    at = text.startsWith(', ', end) ? end + 2 : end;
    if (at === end && at < text.length) break;
  }
  return entries;
}

function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}

function decodeQuoted(quoted: string): string {
  try {
    const value: unknown = JSON.parse(quoted);
    return typeof value === 'string' ? value : '';
  } catch {
    return '';
  }
}
