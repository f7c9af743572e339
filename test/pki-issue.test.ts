// The certificate profile infra/pki issues and the anchor directory it reads: what a TLS peer and an
// operator rely on (key type, CA flags, path length, EKU, validity, serials), and clear errors for a
// broken anchor directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  ANCHOR_FILES,
  createTrustAnchor,
  InfraError,
  issueGatewayCertificate,
  readFabricManifest,
  readTrustAnchorFiles,
  writeTrustAnchorFiles,
} from '../infra/index.js';

const TD = 'acme.test';
const HOUR_MS = 3_600_000;

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function basicConstraintsOf(pem: string): x509.BasicConstraintsExtension {
  const ext = new x509.X509Certificate(pem).getExtension(x509.BasicConstraintsExtension);
  assert.ok(ext, 'basicConstraints missing');
  return ext;
}

test('the trust anchor is an ECDSA P-256 root and a pathLen-0 intermediate', async () => {
  const now = Date.now();
  const anchor = await createTrustAnchor({ trustDomain: TD, intermediate: true, now });
  const root = new X509Certificate(anchor.root.certPem);
  assert.ok(root.ca);
  assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(root.checkIssued(root) && root.verify(root.publicKey), 'root is self-signed');
  const years = (Date.parse(root.validTo) - now) / (365 * 24 * HOUR_MS);
  assert.ok(years > 9.9 && years < 10.1, `root validity ${years} years`);
  assert.equal(basicConstraintsOf(anchor.root.certPem).critical, true);
  const keyUsage = new x509.X509Certificate(anchor.root.certPem).getExtension(x509.KeyUsagesExtension);
  assert.ok(keyUsage && keyUsage.usages & x509.KeyUsageFlags.keyCertSign);

  assert.ok(anchor.intermediate);
  const intermediate = new X509Certificate(anchor.intermediate.certPem);
  assert.ok(intermediate.ca);
  assert.equal(basicConstraintsOf(anchor.intermediate.certPem).pathLength, 0);
  assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
  assert.ok(Date.parse(intermediate.validTo) <= Date.parse(root.validTo));
});

test('a gateway certificate has the SPIFFE SAN, both EKUs, the TTL, skew allowance and a random serial', async () => {
  const now = Date.now();
  const anchor = await createTrustAnchor({ trustDomain: TD, intermediate: true });
  const issued = await issueGatewayCertificate({ anchor, cluster: 'aws-use1', ttlMs: 6 * HOUR_MS, now });
  const again = await issueGatewayCertificate({ anchor, cluster: 'aws-use1', ttlMs: 6 * HOUR_MS, now });
  const leaf = new X509Certificate(issued.certPem);
  assert.equal(issued.spiffeId, 'spiffe://acme.test/cluster/aws-use1/gateway');
  assert.equal(
    leaf.subjectAltName,
    'URI:spiffe://acme.test/cluster/aws-use1/gateway, DNS:aws-use1.gateway.acme.test',
  );
  assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(leaf.ca, false);
  assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  // X.509 times have one-second resolution.
  assert.ok(Math.abs(Date.parse(leaf.validTo) - (now + 6 * HOUR_MS)) < 1000);
  assert.ok(Math.abs(Date.parse(leaf.validFrom) - (now - 60_000)) < 1000);
  assert.equal(issued.serialNumber, leaf.serialNumber);
  assert.match(issued.serialNumber, /^[0-7][0-9A-F]{31}$/);
  assert.notEqual(issued.serialNumber, again.serialNumber);
  assert.notEqual(issued.keyPem, again.keyPem);
  assert.ok(
    leaf.verify(new X509Certificate(anchor.intermediate!.certPem).publicKey),
    'signed by the intermediate',
  );
  assert.equal(issued.caPem, anchor.root.certPem);
});

test('the default TTL is 24h', async () => {
  const now = Date.now();
  const anchor = await createTrustAnchor({ trustDomain: TD });
  const leaf = new X509Certificate((await issueGatewayCertificate({ anchor, cluster: 'a', now })).certPem);
  assert.ok(Math.abs(Date.parse(leaf.validTo) - (now + 24 * HOUR_MS)) < 1000);
});

test('issuing refuses bad names, bad TTLs, and TTLs past the issuer expiry', async () => {
  const anchor = await createTrustAnchor({ trustDomain: TD, rootValidityMs: HOUR_MS });
  await assert.rejects(issueGatewayCertificate({ anchor, cluster: 'Bad' }), RangeError);
  await assert.rejects(issueGatewayCertificate({ anchor, cluster: 'a', ttlMs: 0 }), RangeError);
  await assert.rejects(issueGatewayCertificate({ anchor, cluster: 'a', ttlMs: Number.NaN }), RangeError);
  await assert.rejects(
    issueGatewayCertificate({ anchor, cluster: 'a', ttlMs: 2 * HOUR_MS }),
    (err: unknown) => {
      assert.ok(err instanceof InfraError);
      assert.equal(err.code, 'CERT_INVALID');
      assert.match(err.message, /the root certificate expires .* before the requested gateway certificate/);
      return true;
    },
  );
  await assert.rejects(createTrustAnchor({ trustDomain: 'not a domain' }), RangeError);
});

test('anchor files: keys 0600, fabric.json, refuse to overwrite, read back', async (t) => {
  const dir = await tempDir(t);
  const anchor = await createTrustAnchor({ trustDomain: TD, intermediate: true });
  await writeTrustAnchorFiles(dir, anchor);
  for (const key of [ANCHOR_FILES.rootKey, ANCHOR_FILES.intermediateKey]) {
    assert.equal((await stat(join(dir, key))).mode & 0o777, 0o600, key);
  }
  assert.deepEqual(await readFabricManifest(dir), { trustDomain: TD });
  await assert.rejects(writeTrustAnchorFiles(dir, anchor), (err: unknown) => {
    assert.ok(err instanceof InfraError && err.code === 'CERT_IO');
    assert.match(err.message, /ca\.key.*already exist/);
    return true;
  });
  const read = await readTrustAnchorFiles(dir, TD);
  assert.equal(read.root.certPem, anchor.root.certPem);
  assert.equal(read.intermediate?.certPem, anchor.intermediate?.certPem);

  // Replacing it with a root-only anchor must not leave the old intermediate signing for the old root.
  const replacement = await createTrustAnchor({ trustDomain: TD });
  await writeTrustAnchorFiles(dir, replacement, { overwrite: true });
  const reread = await readTrustAnchorFiles(dir, TD);
  assert.equal(reread.intermediate, undefined);
  assert.equal(reread.root.certPem, replacement.root.certPem);
});

test('a broken anchor directory gets an error naming the file and the problem', async (t) => {
  const base = await tempDir(t);
  const good = await createTrustAnchor({ trustDomain: TD, intermediate: true });
  const other = await createTrustAnchor({ trustDomain: TD, intermediate: true });
  const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
    ['missing directory', (dir) => rm(dir, { recursive: true }), /trust anchor directory .* does not exist/],
    ['missing root key', (dir) => rm(join(dir, 'ca.key')), /ca\.key does not exist/],
    [
      'root key of another anchor',
      (dir) => writeFile(join(dir, 'ca.key'), other.root.keyPem),
      /ca\.key is not the key of .*ca\.pem/,
    ],
    ['garbage root', (dir) => writeFile(join(dir, 'ca.pem'), 'hello'), /ca\.pem holds no PEM certificate/],
    ['garbage key', (dir) => writeFile(join(dir, 'ca.key'), 'hello'), /ca\.key is not a PEM private key/],
    ['intermediate without key', (dir) => rm(join(dir, 'intermediate.key')), /intermediate\.key is missing/],
    [
      'intermediate of another anchor',
      async (dir) => {
        await writeFile(join(dir, 'intermediate.pem'), other.intermediate!.certPem);
        await writeFile(join(dir, 'intermediate.key'), other.intermediate!.keyPem);
      },
      /intermediate\.pem is not signed by .*ca\.pem/,
    ],
    [
      'leaf where a CA belongs',
      async (dir) => {
        const leaf = await issueGatewayCertificate({ anchor: good, cluster: 'a' });
        await writeFile(
          join(dir, 'intermediate.pem'),
          leaf.certPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!,
        );
        await writeFile(join(dir, 'intermediate.key'), leaf.keyPem);
      },
      /intermediate\.pem is not a CA certificate/,
    ],
    [
      'two certificates in ca.pem',
      async (dir) => {
        await writeFile(join(dir, 'ca.pem'), good.root.certPem + other.root.certPem);
      },
      /ca\.pem must hold exactly one certificate, found 2/,
    ],
  ];
  for (const [name, breakIt, message] of cases) {
    const dir = join(base, name.replaceAll(' ', '-'));
    await writeTrustAnchorFiles(dir, good);
    await breakIt(dir);
    await assert.rejects(readTrustAnchorFiles(dir, TD), (err: unknown) => {
      assert.ok(err instanceof InfraError, `${name}: ${String(err)}`);
      assert.match(err.message, message, name);
      return true;
    });
  }
});

test('an expired root is refused when read', async (t) => {
  const dir = await tempDir(t);
  const anchor = await createTrustAnchor({
    trustDomain: TD,
    now: Date.now() - 3 * HOUR_MS,
    rootValidityMs: HOUR_MS,
  });
  await writeTrustAnchorFiles(dir, anchor);
  await assert.rejects(readTrustAnchorFiles(dir, TD), /ca\.pem expired/);
  // An anchor written by other tools in SEC1 form still signs once it is valid.
  const fresh = await createTrustAnchor({ trustDomain: TD });
  const sec1 = createPrivateKey(fresh.root.keyPem).export({ type: 'sec1', format: 'pem' });
  const dir2 = join(dir, 'sec1');
  await writeTrustAnchorFiles(dir2, fresh);
  await writeFile(join(dir2, 'ca.key'), sec1);
  const read = await readTrustAnchorFiles(dir2, TD);
  const issued = await issueGatewayCertificate({ anchor: read, cluster: 'a' });
  assert.ok(new X509Certificate(issued.certPem).verify(new X509Certificate(fresh.root.certPem).publicKey));
});
