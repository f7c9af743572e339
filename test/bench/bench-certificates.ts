// The one set of certificates both chains use: a fabric trust anchor (ECDSA P-256) and a gateway
// certificate per cluster from weft's own PKI, written as weft's gateways read them (ca.pem,
// gateway.pem, gateway.key) plus the cert-then-key PEM HAProxy's `crt` wants.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createTrustAnchor,
  gatewayDnsNameFor,
  issueGatewayCertificate,
  writeGatewayCertificateFiles,
} from '../../infra/index.js';

export interface GatewayCertificateFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Certificate chain followed by the private key, for HAProxy. */
  readonly certAndKeyFile: string;
  /** The DNS SAN of the certificate (<cluster>.gateway.<trust domain>), for HAProxy's verifyhost. */
  readonly dnsName: string;
}

export interface BenchCertificates {
  readonly caFile: string;
  readonly a: GatewayCertificateFiles;
  readonly b: GatewayCertificateFiles;
}

async function issueFor(
  dir: string,
  anchor: Awaited<ReturnType<typeof createTrustAnchor>>,
  cluster: string,
): Promise<GatewayCertificateFiles> {
  const issued = await issueGatewayCertificate({ anchor, cluster });
  const paths = await writeGatewayCertificateFiles(join(dir, cluster), issued);
  const certAndKeyFile = join(dir, cluster, 'haproxy.pem');
  writeFileSync(certAndKeyFile, issued.certPem + issued.keyPem, { mode: 0o600 });
  return {
    caFile: paths.ca,
    certFile: paths.cert,
    keyFile: paths.key,
    certAndKeyFile,
    dnsName: gatewayDnsNameFor(anchor.trustDomain, cluster),
  };
}

export async function createBenchCertificates(
  dir: string,
  trustDomain: string,
  clusters: { readonly a: string; readonly b: string },
): Promise<BenchCertificates> {
  const anchor = await createTrustAnchor({ trustDomain });
  const a = await issueFor(dir, anchor, clusters.a);
  const b = await issueFor(dir, anchor, clusters.b);
  return { caFile: a.caFile, a, b };
}
