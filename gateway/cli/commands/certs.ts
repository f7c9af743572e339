// `weft certs init` makes a fabric's trust anchor; `weft certs issue` makes a short-lived gateway
// certificate from it. Bad flags, a missing or broken anchor directory, or an anchor that would be
// overwritten without --force exit 2 with one message saying what to fix.
import type { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import type { TrustAnchor } from '../../../infra/index.js';
import { formatDuration, parseDurationMs } from '../../config/index.js';
import { GatewayError } from '../../errors.js';

const MIN_TTL_MS = 60_000;
const CLUSTER_RULE =
  "lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit";

interface InitFlags {
  trustDomain: string;
  out: string;
  intermediate?: boolean;
  force?: boolean;
}

interface IssueFlags {
  ca: string;
  cluster: string;
  out: string;
  ttl: string;
  trustDomain?: string;
  alsoTrust: string[];
}

export function registerCertsCommand(program: Command): void {
  const certs = program
    .command('certs')
    .description("manage the fabric's trust anchor and gateway certificates");
  certs
    .command('init')
    .description('create a trust anchor (ECDSA P-256 root, optionally an intermediate issuer)')
    .requiredOption('--trust-domain <domain>', 'the fabric trust domain, e.g. acme.test')
    .requiredOption('--out <dir>', 'directory for ca.pem, ca.key, fabric.json')
    .option('--intermediate', 'also create an intermediate issuer, so the root key can be kept offline')
    .option('--force', 'replace an existing trust anchor in --out')
    .action((flags: InitFlags) => initAnchor(flags));
  certs
    .command('issue')
    .description('issue a gateway certificate for one cluster')
    .requiredOption('--ca <dir>', 'trust anchor directory made by `weft certs init`')
    .requiredOption('--cluster <name>', 'cluster name, e.g. aws-use1')
    .requiredOption('--out <dir>', 'directory for gateway.pem, gateway.key, ca.pem')
    .option('--ttl <duration>', 'certificate lifetime, e.g. 12h, 24h, 7d', '24h')
    .option('--trust-domain <domain>', 'trust domain (default: from <ca>/fabric.json)')
    .option(
      '--also-trust <ca.pem>',
      "keep trusting these roots too (another anchor's ca.pem, while rolling over to a new root); repeatable",
      (file: string, files: string[]) => [...files, file],
      [] as string[],
    )
    .action((flags: IssueFlags) => issueCertificate(flags));
  for (const command of certs.commands) command.exitOverride();
}

async function initAnchor(flags: InitFlags): Promise<void> {
  const pki = await import('../../../infra/index.js');
  if (!pki.isTrustDomain(flags.trustDomain)) {
    throw new GatewayError(
      'USAGE',
      `--trust-domain "${flags.trustDomain}" is not a lower-case DNS name such as acme.test`,
    );
  }
  const existing = await pki.existingAnchorFiles(flags.out);
  if (existing.length > 0 && !flags.force) {
    throw new GatewayError(
      'USAGE',
      `${existing.join(', ')} already exist; pass --force to replace the trust anchor ` +
        '(every gateway certificate must then be re-issued)',
    );
  }
  const anchor = await pki.createTrustAnchor({
    trustDomain: flags.trustDomain,
    intermediate: flags.intermediate,
  });
  const written = await asUsage(() => pki.writeTrustAnchorFiles(flags.out, anchor, { overwrite: true }));
  console.log(`trust anchor for ${flags.trustDomain}${anchor.intermediate ? ' (root + intermediate)' : ''}`);
  for (const path of written)
    console.log(`  wrote ${path}${path.endsWith('.key') ? ' (0600, keep it secret)' : ''}`);
  console.log(`next: weft certs issue --ca ${flags.out} --cluster <name> --out <dir>`);
}

async function issueCertificate(flags: IssueFlags): Promise<void> {
  const pki = await import('../../../infra/index.js');
  if (!pki.isClusterName(flags.cluster)) {
    throw new GatewayError('USAGE', `--cluster "${flags.cluster}" is not a cluster name: ${CLUSTER_RULE}`);
  }
  if (flags.trustDomain !== undefined && !pki.isTrustDomain(flags.trustDomain)) {
    throw new GatewayError(
      'USAGE',
      `--trust-domain "${flags.trustDomain}" is not a lower-case DNS name such as acme.test`,
    );
  }
  const ttlMs = parseDurationMs(flags.ttl);
  if (ttlMs === undefined) {
    throw new GatewayError('USAGE', `--ttl "${flags.ttl}" is not a duration such as 12h, 24h or 7d`);
  }
  if (ttlMs < MIN_TTL_MS)
    throw new GatewayError('USAGE', `--ttl ${flags.ttl} is too short; the minimum is 1m`);

  await requireDirectory('--ca', flags.ca);
  const trustDomain = await asUsage(() => trustDomainFor(flags));
  const anchor: TrustAnchor = await asUsage(() => pki.readTrustAnchorFiles(flags.ca, trustDomain));
  const alsoTrusted = await alsoTrustedRoots(flags.alsoTrust);
  const issued = await asUsage(() => pki.issueGatewayCertificate({ anchor, cluster: flags.cluster, ttlMs }));
  const trust = pki.trustBundle(issued.caPem, alsoTrusted);
  const previous = await readFile(pki.gatewayFilePaths(flags.out).ca, 'latin1').catch(() => undefined);
  const paths = await asUsage(() => pki.writeGatewayCertificateFiles(flags.out, issued, trust));
  console.log(`issued ${issued.spiffeId}`);
  console.log(`  serial ${issued.serialNumber}`);
  console.log(
    `  valid  ${issued.notBefore.toISOString()} to ${issued.notAfter.toISOString()} (${formatDuration(ttlMs)})`,
  );
  console.log(`  wrote  ${paths.cert} (certificate${anchor.intermediate ? ' + intermediate' : ''})`);
  console.log(`  wrote  ${paths.key} (0600)`);
  const extra = alsoTrusted.length > 0 ? ` + ${alsoTrusted.length} from --also-trust` : '';
  console.log(`  wrote  ${paths.ca} (trust bundle: the root${extra})`);
  for (const root of previous === undefined ? [] : pki.droppedRoots(previous, trust)) {
    console.error(
      `note: ${paths.ca} no longer trusts ${subjectOf(root)} (it did before); ` +
        'to keep trusting a root during a rollover, pass its ca.pem with --also-trust',
    );
  }
}

/** A certificate's subject on one line (`CN=…, O=…`), for messages. */
function subjectOf(cert: X509Certificate): string {
  return cert.subject.replaceAll('\n', ', ');
}

/** The CA certificates of each --also-trust file; a file that holds anything else is a usage error. */
async function alsoTrustedRoots(files: readonly string[]): Promise<X509Certificate[]> {
  const { parseCertificateBundle } = await import('../../../infra/index.js');
  const roots: X509Certificate[] = [];
  for (const file of files) {
    let certs: X509Certificate[];
    try {
      certs = parseCertificateBundle(await readFile(file, 'latin1'));
    } catch (err) {
      throw new GatewayError('USAGE', `--also-trust ${file}: ${(err as Error).message}`, { cause: err });
    }
    const leaf = certs.find((cert) => !cert.ca);
    if (leaf) {
      throw new GatewayError(
        'USAGE',
        `--also-trust ${file} holds ${subjectOf(leaf)}, which is not a CA certificate; pass a trust anchor's ca.pem`,
      );
    }
    roots.push(...certs);
  }
  return roots;
}

async function requireDirectory(flag: string, dir: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`;
    throw new GatewayError('USAGE', `${flag} ${dir} ${why}`, { cause: err });
  }
  if (!isDirectory) throw new GatewayError('USAGE', `${flag} ${dir} is not a directory`);
}

/** --trust-domain when given, else the anchor's fabric.json; the two must agree when both exist. */
async function trustDomainFor(flags: IssueFlags): Promise<string> {
  const { readFabricManifest, ANCHOR_FILES } = await import('../../../infra/index.js');
  const manifest = await readFabricManifest(flags.ca);
  if (flags.trustDomain !== undefined) {
    if (manifest && manifest.trustDomain !== flags.trustDomain) {
      throw new GatewayError(
        'USAGE',
        `--trust-domain ${flags.trustDomain} differs from ${flags.ca}/${ANCHOR_FILES.manifest} (${manifest.trustDomain}); ` +
          'a fabric has one trust domain',
      );
    }
    return flags.trustDomain;
  }
  if (!manifest) {
    throw new GatewayError(
      'USAGE',
      `${flags.ca}/${ANCHOR_FILES.manifest} not found, so the trust domain is unknown: pass --trust-domain ` +
        '(or check that --ca is a directory made by `weft certs init`)',
    );
  }
  return manifest.trustDomain;
}

/** Problems with the anchor directory or output files are the user's to fix: exit 2, not a stack trace. */
async function asUsage<T>(work: () => Promise<T>): Promise<T> {
  const { InfraError } = await import('../../../infra/index.js');
  try {
    return await work();
  } catch (err) {
    if (err instanceof InfraError) throw new GatewayError('USAGE', err.message, { cause: err });
    if (isFileSystemError(err)) throw new GatewayError('USAGE', err.message, { cause: err });
    throw err;
  }
}

function isFileSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
