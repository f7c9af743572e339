// A fabric's PKI on disk for tests, built with the infra/pki API (no CLI, no child processes): one trust
// anchor in <dir>/anchor and one gateway directory per cluster, <dir>/<cluster>/{ca.pem, gateway.pem,
// gateway.key}. ECDSA P-256 keys make this a few milliseconds per cluster.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTrustAnchor,
  issueGatewayCertificate,
  writeGatewayCertificateFiles,
  writeTrustAnchorFiles,
  type IssuedGatewayCertificate,
  type TlsFilePaths,
  type TrustAnchor,
} from '../../infra/index.js';

export interface FabricPkiOptions {
  readonly trustDomain: string;
  readonly clusters: readonly string[];
  /** Sign gateway certificates with an intermediate issuer instead of the root. */
  readonly intermediate?: boolean;
  /** Gateway certificate lifetime; default 24h. */
  readonly ttlMs?: number;
}

export interface FabricPki {
  readonly trustDomain: string;
  readonly anchor: TrustAnchor;
  /** ca.pem, ca.key (and intermediate.*) and fabric.json, as `weft certs init` writes them. */
  readonly anchorDir: string;
  /** The trust bundle (root certificate) every gateway of this fabric trusts. */
  readonly caFile: string;
  /** The `tls:` paths of each cluster's gateway. */
  readonly clusters: Readonly<Record<string, TlsFilePaths>>;
  /** The `tls:` paths of one cluster; throws for a cluster not in the fabric. */
  pathsOf(cluster: string): TlsFilePaths;
  /** The certificate currently in a cluster's directory. */
  issuedFor(cluster: string): IssuedGatewayCertificate;
  /**
   * Issues a fresh certificate into the cluster's directory (a rotation, as a reloading gateway sees it).
   * `now` back-dates or forward-dates it, e.g. to make an expired certificate.
   */
  reissue(cluster: string, options?: { ttlMs?: number; now?: number }): Promise<IssuedGatewayCertificate>;
}

export async function createFabricPki(dir: string, options: FabricPkiOptions): Promise<FabricPki> {
  const { trustDomain } = options;
  const anchor = await createTrustAnchor({ trustDomain, intermediate: options.intermediate });
  const anchorDir = join(dir, 'anchor');
  await writeTrustAnchorFiles(anchorDir, anchor);
  const clusters: Record<string, TlsFilePaths> = {};
  const issued = new Map<string, IssuedGatewayCertificate>();

  const reissue = async (cluster: string, issueOptions: { ttlMs?: number; now?: number } = {}) => {
    const certificate = await issueGatewayCertificate({
      anchor,
      cluster,
      ttlMs: issueOptions.ttlMs ?? options.ttlMs,
      now: issueOptions.now,
    });
    clusters[cluster] = await writeGatewayCertificateFiles(join(dir, cluster), certificate);
    issued.set(cluster, certificate);
    return certificate;
  };
  await Promise.all(options.clusters.map((cluster) => reissue(cluster)));

  const known = (cluster: string) => {
    const paths = clusters[cluster];
    if (!paths)
      throw new Error(`cluster ${cluster} is not in this test fabric (${Object.keys(clusters).join(', ')})`);
    return paths;
  };
  return {
    trustDomain,
    anchor,
    anchorDir,
    caFile: join(anchorDir, 'ca.pem'),
    clusters,
    pathsOf: known,
    issuedFor: (cluster) => {
      known(cluster);
      return issued.get(cluster) as IssuedGatewayCertificate;
    },
    reissue: (cluster, issueOptions) => {
      known(cluster);
      return reissue(cluster, issueOptions);
    },
  };
}

export interface GatewayTlsBuffers {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * The TLS material of one gateway of cluster `a` and one of cluster `b` under one trust anchor, read
 * into memory (the files are written to a temporary directory and removed at once).
 */
export async function twoGatewaysTls(
  trustDomain: string,
): Promise<{ a: GatewayTlsBuffers; b: GatewayTlsBuffers }> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-tls-'));
  try {
    const pki = await createFabricPki(dir, { trustDomain, clusters: ['a', 'b'] });
    const load = async (cluster: string): Promise<GatewayTlsBuffers> => {
      const paths = pki.pathsOf(cluster);
      const [ca, cert, key] = await Promise.all([paths.ca, paths.cert, paths.key].map((p) => readFile(p)));
      return { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer };
    };
    return { a: await load('a'), b: await load('b') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
