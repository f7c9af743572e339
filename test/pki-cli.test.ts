// `weft certs init` and `weft certs issue`: the files they write, their modes and contents, and a clear
// usage error (exit 2) for every kind of bad input. The main flows and one of each error kind run the
// real CLI entry point in a child process; the longer tables run the same command in-process, because a
// child process costs seconds on a loaded machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerCertsCommand } from '../gateway/cli/commands/certs.js';
import { GatewayError } from '../gateway/errors.js';
import { runWeft } from './helpers/weft-cli.js';

/**
 * Runs `weft certs <args>` in-process. Resolves the usage error message (what main() prints before
 * exiting 2: a GatewayError USAGE or a commander parse error), or undefined on success.
 */
async function certsUsageError(...args: string[]): Promise<string | undefined> {
  let stderr = '';
  const program = new Command('weft')
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: (text) => (stderr += text) });
  registerCertsCommand(program);
  try {
    await program.parseAsync(['certs', ...args], { from: 'user' });
    return undefined;
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'USAGE') return err.message;
    if (err instanceof CommanderError) return stderr;
    throw err;
  }
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-certs-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function certificatesIn(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

test('certs init + issue write a verifiable gateway certificate with the SPIFFE ID, both EKUs and the TTL', async (t) => {
  const dir = await tempDir(t);
  const ca = join(dir, 'ca');
  const gw = join(dir, 'aws-use1');
  const init = await runWeft(
    ['certs', 'init', '--trust-domain', 'acme.test', '--out', ca, '--intermediate'],
    60_000,
  );
  assert.equal(init.code, 0, init.stderr);
  for (const name of ['ca.pem', 'ca.key', 'intermediate.pem', 'intermediate.key', 'fabric.json']) {
    assert.match(init.stdout, new RegExp(`wrote .*${name.replace('.', '\\.')}`));
  }
  assert.equal(await modeOf(join(ca, 'ca.key')), 0o600);
  assert.equal(await modeOf(join(ca, 'intermediate.key')), 0o600);
  assert.deepEqual(JSON.parse(await readFile(join(ca, 'fabric.json'), 'utf8')), { trustDomain: 'acme.test' });

  const before = Date.now();
  const issue = await runWeft(
    ['certs', 'issue', '--ca', ca, '--cluster', 'aws-use1', '--out', gw, '--ttl', '12h'],
    60_000,
  );
  assert.equal(issue.code, 0, issue.stderr);
  assert.match(issue.stdout, /issued spiffe:\/\/acme\.test\/cluster\/aws-use1\/gateway/);
  assert.equal(await modeOf(join(gw, 'gateway.key')), 0o600);

  const chain = certificatesIn(await readFile(join(gw, 'gateway.pem'), 'utf8'));
  const [root] = certificatesIn(await readFile(join(gw, 'ca.pem'), 'utf8'));
  assert.equal(chain.length, 2, 'leaf + intermediate');
  const [leaf, intermediate] = chain as [X509Certificate, X509Certificate];
  assert.ok(root);
  assert.match(issue.stdout, new RegExp(`serial ${leaf.serialNumber}`));
  assert.equal(
    leaf.subjectAltName,
    'URI:spiffe://acme.test/cluster/aws-use1/gateway, DNS:aws-use1.gateway.acme.test',
  );
  assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  const ttlMs = Date.parse(leaf.validTo) - before;
  assert.ok(ttlMs > 12 * 3_600_000 - 60_000 && ttlMs <= 12 * 3_600_000 + 60_000, `ttl ${ttlMs} ms`);
  assert.ok(
    leaf.verify(intermediate.publicKey) && intermediate.verify(root.publicKey),
    'chain verifies to the root',
  );
  assert.ok(leaf.checkPrivateKey(createPrivateKey(await readFile(join(gw, 'gateway.key')))));
});

test('certs issue defaults to 24h and takes the trust domain from --trust-domain when fabric.json is absent', async (t) => {
  const dir = await tempDir(t);
  const ca = join(dir, 'ca');
  assert.equal(await certsUsageError('init', '--trust-domain', 'acme.test', '--out', ca), undefined);
  await rm(join(ca, 'fabric.json'));
  assert.match(
    (await certsUsageError('issue', '--ca', ca, '--cluster', 'a', '--out', join(dir, 'a'))) ?? '',
    /fabric\.json not found, so the trust domain is unknown: pass --trust-domain/,
  );
  const before = Date.now();
  const args = [
    'issue',
    '--ca',
    ca,
    '--cluster',
    'a',
    '--out',
    join(dir, 'a'),
    '--trust-domain',
    'acme.test',
  ];
  assert.equal(await certsUsageError(...args), undefined);
  const [leaf] = certificatesIn(await readFile(join(dir, 'a', 'gateway.pem'), 'utf8'));
  assert.ok(leaf);
  assert.equal(leaf.subjectAltName?.startsWith('URI:spiffe://acme.test/cluster/a/gateway'), true);
  const ttlMs = Date.parse(leaf.validTo) - before;
  assert.ok(Math.abs(ttlMs - 24 * 3_600_000) <= 60_000, `ttl ${ttlMs} ms`);
});

test('certs init refuses to replace an anchor without --force, and --force replaces it', async (t) => {
  const dir = await tempDir(t);
  const ca = join(dir, 'ca');
  assert.equal(
    await certsUsageError('init', '--trust-domain', 'acme.test', '--out', ca, '--intermediate'),
    undefined,
  );
  const firstKey = await readFile(join(ca, 'ca.key'), 'utf8');
  assert.match(
    (await certsUsageError('init', '--trust-domain', 'acme.test', '--out', ca)) ?? '',
    /ca\.key.* already exist; pass --force to replace the trust anchor/,
  );
  assert.equal(await readFile(join(ca, 'ca.key'), 'utf8'), firstKey, 'the old key is untouched');

  assert.equal(
    await certsUsageError('init', '--trust-domain', 'acme.test', '--out', ca, '--force'),
    undefined,
  );
  assert.notEqual(await readFile(join(ca, 'ca.key'), 'utf8'), firstKey);
  assert.equal(await modeOf(join(ca, 'ca.key')), 0o600);
  await assert.rejects(stat(join(ca, 'intermediate.key')), /ENOENT/, 'the stale intermediate is gone');
});

test('the CLI entry exits 2 with one clear line for a bad cluster, a missing --ca and a bad --ttl', async (t) => {
  const dir = await tempDir(t);
  const ca = join(dir, 'ca');
  assert.equal(await certsUsageError('init', '--trust-domain', 'acme.test', '--out', ca), undefined);
  const out = join(dir, 'out');
  const cases: [string[], RegExp][] = [
    [
      ['--ca', ca, '--cluster', 'Bad_Name', '--out', out],
      /^weft: --cluster "Bad_Name" is not a cluster name: lower-case letters/,
    ],
    [
      ['--ca', join(dir, 'missing'), '--cluster', 'a', '--out', out],
      /^weft: --ca .*missing does not exist$/m,
    ],
    [
      ['--ca', ca, '--cluster', 'a', '--out', out, '--ttl', 'soon'],
      /^weft: --ttl "soon" is not a duration such as 12h, 24h or 7d$/m,
    ],
  ];
  const runs = await Promise.all(cases.map(([args]) => runWeft(['certs', 'issue', ...args], 60_000)));
  runs.forEach((run, index) => {
    const [args, message] = cases[index]!;
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
    assert.equal(run.stderr.trim().split('\n').length, 1, `one line, no stack trace: ${run.stderr}`);
  });
  await assert.rejects(stat(out), /ENOENT/, 'nothing was written');
});

test('every kind of bad input is a usage error saying what to fix', async (t) => {
  const dir = await tempDir(t);
  const ca = join(dir, 'ca');
  assert.equal(await certsUsageError('init', '--trust-domain', 'acme.test', '--out', ca), undefined);
  const corrupt = join(dir, 'corrupt');
  assert.equal(await certsUsageError('init', '--trust-domain', 'acme.test', '--out', corrupt), undefined);
  await writeFile(join(corrupt, 'ca.key'), 'not a key');
  await writeFile(join(dir, 'not-a-dir'), 'x');
  const out = join(dir, 'out');
  const cases: [string[], RegExp][] = [
    [['issue', '--ca', ca, '--cluster', 'a.b', '--out', out], /--cluster "a\.b" is not a cluster name/],
    [['issue', '--ca', ca, '--cluster', '-a', '--out', out], /--cluster "-a" is not a cluster name/],
    [
      ['issue', '--ca', join(dir, 'not-a-dir'), '--cluster', 'a', '--out', out],
      /--ca .*not-a-dir is not a directory/,
    ],
    [
      ['issue', '--ca', ca, '--cluster', 'a', '--out', out, '--ttl', '30s'],
      /--ttl 30s is too short; the minimum is 1m/,
    ],
    [['issue', '--ca', ca, '--cluster', 'a', '--out', out, '--ttl', '-1h'], /--ttl "-1h" is not a duration/],
    [
      ['issue', '--ca', ca, '--cluster', 'a', '--out', out, '--ttl', '36500d'],
      /the root certificate expires .* before the requested gateway certificate/,
    ],
    [
      ['issue', '--ca', ca, '--cluster', 'a', '--out', out, '--trust-domain', 'other.test'],
      /--trust-domain other\.test differs from .*fabric\.json \(acme\.test\)/,
    ],
    [
      ['issue', '--ca', ca, '--cluster', 'a', '--out', out, '--trust-domain', 'Not_A_Domain'],
      /--trust-domain "Not_A_Domain" is not a lower-case DNS name/,
    ],
    [['issue', '--ca', dir, '--cluster', 'a', '--out', out], /fabric\.json not found/],
    [['issue', '--ca', corrupt, '--cluster', 'a', '--out', out], /corrupt\/ca\.key is not a PEM private key/],
    [['issue', '--ca', ca, '--cluster', 'a', '--out', join(dir, 'not-a-dir', 'sub')], /not-a-dir/],
    [['issue', '--ca', ca, '--out', out], /required option '--cluster <name>' not specified/],
    [['issue', '--ca', ca, '--cluster', 'a', '--out', out, '--bogus'], /unknown option '--bogus'/],
    [['init', '--trust-domain', 'acme.test'], /required option '--out <dir>' not specified/],
    [
      ['init', '--trust-domain', 'ACME', '--out', join(dir, 'x')],
      /--trust-domain "ACME" is not a lower-case DNS name/,
    ],
  ];
  for (const [args, message] of cases) {
    const error = await certsUsageError(...args);
    assert.ok(error !== undefined, `${args.join(' ')} should fail`);
    assert.match(error, message, args.join(' '));
  }
  await assert.rejects(stat(out), /ENOENT/, 'nothing was written');
});

test('certs issue --also-trust keeps another root in ca.pem through a rollover; a dropped root is named', async (t) => {
  const dir = await tempDir(t);
  const [oldCa, newCa, gw] = [join(dir, 'old'), join(dir, 'new'), join(dir, 'aws-use1')];
  for (const out of [oldCa, newCa]) {
    assert.equal(await certsUsageError('init', '--trust-domain', 'acme.test', '--out', out), undefined);
  }
  const fingerprint = async (file: string) => new X509Certificate(await readFile(file)).fingerprint256;
  const [oldRoot, newRoot] = [
    await fingerprint(join(oldCa, 'ca.pem')),
    await fingerprint(join(newCa, 'ca.pem')),
  ];
  const bundle = async () =>
    certificatesIn(await readFile(join(gw, 'ca.pem'), 'utf8')).map((cert) => cert.fingerprint256);
  const notes = t.mock.method(console, 'error', () => undefined);
  const issue = (ca: string, ...extra: string[]) =>
    certsUsageError('issue', '--ca', ca, '--cluster', 'aws-use1', '--out', gw, ...extra);

  assert.equal(await issue(oldCa), undefined);
  assert.deepEqual(await bundle(), [oldRoot]);
  assert.equal(await issue(oldCa, '--also-trust', join(newCa, 'ca.pem')), undefined);
  assert.deepEqual(await bundle(), [oldRoot, newRoot], 'both roots while every gateway moves over');
  assert.equal(await issue(newCa, '--also-trust', join(oldCa, 'ca.pem')), undefined);
  assert.deepEqual(await bundle(), [newRoot, oldRoot]);
  assert.equal(notes.mock.callCount(), 0, 'no root dropped so far');
  assert.equal(await issue(newCa), undefined);
  assert.deepEqual(await bundle(), [newRoot], 'the old root is gone once the rollover is done');
  assert.equal(notes.mock.callCount(), 1);
  assert.match(
    String(notes.mock.calls[0]?.arguments[0]),
    /no longer trusts .*pass its ca\.pem with --also-trust/,
  );

  assert.match(
    (await issue(newCa, '--also-trust', join(gw, 'gateway.pem'))) ?? '',
    /--also-trust .*gateway\.pem holds .*which is not a CA certificate/,
  );
  assert.match((await issue(newCa, '--also-trust', join(dir, 'missing.pem'))) ?? '', /--also-trust .*ENOENT/);
});
