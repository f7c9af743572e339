// `weft check`'s certificate checks, each on its own so that one report shows every problem: the TLS
// files are readable and the key belongs to the certificate; the certificates are within their validity
// and not near expiry; the certificate proves this cluster's SPIFFE identity; it chains to the trust
// anchor in tls.ca. Pure apart from reading the three files.
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  gatewayIdentityOf,
  parseCertificateBundle,
  spiffeIdFor,
  walkToAnchor,
} from '../../../infra/index.js';
import type { GatewayConfig } from '../../config/index.js';
import { fail, ok, warn, type Finding } from './check-result.js';

/** Warn when less than this share of a certificate's lifetime is left… */
const NEAR_EXPIRY_SHARE = 0.2;
/** …or less than this. */
const NEAR_EXPIRY_MS = 3_600_000;

export interface LoadedTls {
  readonly ca: X509Certificate[];
  /** Leaf first, then any intermediates. */
  readonly chain: X509Certificate[];
  readonly leaf: X509Certificate;
  readonly pem: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };
}

const issueHint = (config: GatewayConfig) =>
  `issue one: weft certs issue --ca <trust anchor dir> --cluster ${config.cluster} --out <dir>, then point tls.cert/tls.key at it (the gateway reloads it without a restart)`;

function human(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 120_000) return `${Math.round(abs / 1000)}s`;
  if (abs < 7_200_000) return `${Math.round(abs / 60_000)}m`;
  if (abs < 172_800_000) return `${(abs / 3_600_000).toFixed(1)}h`;
  return `${Math.round(abs / 86_400_000)}d`;
}

/** Reads and parses tls.ca, tls.cert and tls.key; the key must belong to the first certificate. */
export async function checkTlsFiles(config: GatewayConfig): Promise<{ finding: Finding; tls?: LoadedTls }> {
  const read = async (what: 'ca' | 'cert' | 'key') => {
    const path = config.tls[what];
    try {
      return await readFile(path);
    } catch (err) {
      throw new Error(
        `cannot read tls.${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  let pem: LoadedTls['pem'];
  try {
    pem = { ca: await read('ca'), cert: await read('cert'), key: await read('key') };
  } catch (err) {
    return {
      finding: fail(
        (err as Error).message,
        'fix the tls: paths (relative to the config file) or create the files with weft certs',
      ),
    };
  }
  const parse = (what: 'ca' | 'cert', text: Buffer) => {
    try {
      return parseCertificateBundle(text.toString('utf8'));
    } catch (err) {
      throw new Error(`tls.${what} ${config.tls[what]} ${(err as Error).message}`, { cause: err });
    }
  };
  let ca: X509Certificate[];
  let chain: X509Certificate[];
  try {
    ca = parse('ca', pem.ca);
    chain = parse('cert', pem.cert);
  } catch (err) {
    return {
      finding: fail((err as Error).message, 'the file must hold PEM certificates as weft certs writes them'),
    };
  }
  const leaf = chain[0] as X509Certificate;
  let keyMatches: boolean;
  try {
    keyMatches = leaf.checkPrivateKey(createPrivateKey(pem.key));
  } catch {
    return {
      finding: fail(
        `tls.key ${config.tls.key} is not a PEM private key`,
        'point tls.key at the gateway.key written with the certificate',
      ),
    };
  }
  if (!keyMatches) {
    return {
      finding: fail(
        `tls.key ${config.tls.key} is not the key of the certificate in ${config.tls.cert}`,
        'use the key file written together with this certificate (weft certs issue writes both)',
      ),
      tls: { ca, chain, leaf, pem },
    };
  }
  return {
    finding: ok(
      `${config.tls.cert} (${chain.length} certificate${chain.length === 1 ? '' : 's'}), key matches; ${ca.length} trust anchor certificate(s) in ${config.tls.ca}`,
    ),
    tls: { ca, chain, leaf, pem },
  };
}

/** Validity of every certificate involved: expired or not yet valid fails, near expiry warns. */
export function checkValidity(config: GatewayConfig, tls: LoadedTls, now: number): Finding {
  const described = [
    ...tls.chain.map((cert, i) => ({
      cert,
      name: i === 0 ? 'the gateway certificate' : `intermediate #${i} in tls.cert`,
    })),
    ...tls.ca.map((cert, i) => ({ cert, name: `trust anchor #${i + 1} in tls.ca` })),
  ];
  const warnings: string[] = [];
  for (const { cert, name } of described) {
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (now < from) {
      return fail(
        `${name} is not valid until ${new Date(from).toISOString()} (${human(from - now)} from now)`,
        "check this machine's clock (NTP) or reissue the certificate",
      );
    }
    if (now >= to) {
      return fail(
        `${name} expired ${new Date(to).toISOString()} (${human(now - to)} ago)`,
        issueHint(config),
      );
    }
    const left = to - now;
    const lifetime = to - from;
    if (left < NEAR_EXPIRY_MS || left < lifetime * NEAR_EXPIRY_SHARE) {
      warnings.push(
        `${name} expires in ${human(left)} (${Math.round((left / lifetime) * 100)}% of its ${human(lifetime)} lifetime left)`,
      );
    }
  }
  if (warnings.length > 0) return warn(warnings.join('; '), issueHint(config));
  const leafTo = Date.parse(tls.leaf.validTo);
  return ok(`valid until ${new Date(leafTo).toISOString()} (${human(leafTo - now)} left)`);
}

/** The certificate proves spiffe://<trustDomain>/cluster/<cluster>/gateway. */
export function checkIdentity(config: GatewayConfig, tls: LoadedTls): Finding {
  const want = spiffeIdFor(config.trustDomain, config.cluster);
  const found = gatewayIdentityOf(tls.leaf);
  if (!found) {
    return fail(`${config.tls.cert} has no gateway SPIFFE ID (URI SAN); expected ${want}`, issueHint(config));
  }
  const got = spiffeIdFor(found.trustDomain, found.cluster);
  if (got !== want) {
    return fail(
      `${config.tls.cert} is ${got}, but this gateway is cluster ${config.cluster} in ${config.trustDomain}: peers would refuse it`,
      issueHint(config),
    );
  }
  return ok(want);
}

/** The certificate chains (through intermediates in tls.cert) to a certificate in tls.ca. */
export function checkTrustAnchor(config: GatewayConfig, tls: LoadedTls): Finding {
  const end = walkToAnchor(tls.leaf, tls.chain, tls.ca);
  if (end.anchor) return ok(`chains to ${end.anchor.subject.split('\n').join(', ')} in ${config.tls.ca}`);
  return fail(
    `${config.tls.cert} does not chain to ${config.tls.ca}: no certificate there signed "${end.unsigned.issuer.split('\n').join(', ')}" — it is from another trust anchor`,
    "every gateway of a fabric must use the same anchor: set tls.ca to the fabric's ca.pem and issue this gateway's certificate from that anchor (weft certs issue --ca <anchor dir>)",
  );
}
