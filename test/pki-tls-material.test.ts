// TlsMaterial: validation on start with errors naming the file, and live rotation over real TLS — new
// handshakes get the new certificate, an open connection keeps working, a corrupt file keeps the old
// material and is reported. Waits poll a condition with a deadline; nothing sleeps a fixed time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkServerIdentityFor,
  InfraError,
  TlsMaterial,
  type TlsFilePaths,
  type TlsMaterialOptions,
  type TlsMaterialSnapshot,
} from '../infra/index.js';
import { createFabricPki, type FabricPki } from './helpers/fabric-pki.js';
import { connectMtls, echo, startMtlsEchoServer, type MtlsEchoServer } from './helpers/mtls-echo.js';
import { waitFor } from './helpers/wait.js';

const TD = 'acme.test';
const DAY_MS = 86_400_000;

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-tls-material-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces a file the way an operator's tooling should: write aside, then rename over. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/**
 * Runs `write` over and over, `intervalMs` apart: a busy neighbour of the files. It stops when the test
 * ends, or earlier through the function it returns; a test whose writes land in its temporary directory
 * stops it before that directory is removed (a write between the removal's steps fails it, ENOTEMPTY).
 */
function keepWriting(
  t: { after(fn: () => Promise<void>): void },
  intervalMs: number,
  write: () => Promise<void>,
): () => Promise<void> {
  let writing = true;
  const done = (async () => {
    while (writing) {
      await write();
      await sleep(intervalMs);
    }
  })();
  const stop = async () => {
    writing = false;
    await done;
  };
  t.after(stop);
  return stop;
}

async function startedMaterial(
  t: { after(fn: () => Promise<void>): void },
  paths: TlsFilePaths,
  options: Partial<TlsMaterialOptions> = {},
): Promise<TlsMaterial> {
  const material = new TlsMaterial({ ...paths, pollIntervalMs: 200, settleMs: 50, ...options });
  await material.start();
  t.after(() => material.close());
  return material;
}

/** Gateway b serves with its TlsMaterial; every swap goes to the server with setSecureContext. */
async function serveWith(t: { after(fn: () => Promise<void>): void }, material: TlsMaterial, host: string) {
  const server = await startMtlsEchoServer({ ...material.tlsOptions() }, host);
  t.after(() => server.close());
  const swaps: TlsMaterialSnapshot[] = [];
  material.subscribe((next) => {
    server.server.setSecureContext({ ...next.tlsOptions });
    swaps.push(next);
  });
  return { server, swaps };
}

function dial(server: MtlsEchoServer, client: TlsMaterial, cluster: string) {
  return connectMtls({
    host: server.host,
    port: server.port,
    secureContext: client.secureContext(),
    checkServerIdentity: checkServerIdentityFor({ trustDomain: TD, cluster }),
  });
}

test('start() loads, validates and exposes the material', async (t) => {
  const pki = await createFabricPki(await tempDir(t), {
    trustDomain: TD,
    clusters: ['a'],
    intermediate: true,
  });
  const material = await startedMaterial(t, pki.pathsOf('a'), {
    expectedIdentity: { trustDomain: TD, cluster: 'a' },
  });
  const issued = pki.issuedFor('a');
  const current = material.current();
  assert.equal(current.serialNumber, issued.serialNumber);
  assert.equal(material.notAfter.getTime(), issued.notAfter.getTime());
  assert.deepEqual(current.identity, { trustDomain: TD, cluster: 'a' });
  assert.equal(current.tlsOptions.minVersion, 'TLSv1.3');
  assert.equal(current.cert.toString(), issued.certPem);
  assert.equal(material.secureContext(), current.secureContext);
  assert.equal(await material.reload(), 'unchanged');
  assert.equal(material.current(), current, 'an unchanged reload keeps the same snapshot');
});

test('start() refuses bad material with an error naming the file and the problem', async (t) => {
  const dir = await tempDir(t);
  const pki = await createFabricPki(join(dir, 'fabric'), { trustDomain: TD, clusters: ['a', 'b'] });
  const rogue = await createFabricPki(join(dir, 'rogue'), {
    trustDomain: TD,
    clusters: ['a'],
    intermediate: true,
  });
  const a = pki.pathsOf('a');
  const now = Date.now();
  const cases: {
    name: string;
    paths?: Partial<TlsFilePaths>;
    options?: Partial<TlsMaterialOptions>;
    code: InfraError['code'];
    message: RegExp;
  }[] = [
    {
      name: 'missing key',
      paths: { key: join(dir, 'nope.key') },
      code: 'CERT_IO',
      message: /nope\.key does not exist/,
    },
    {
      name: 'key of another gateway',
      paths: { key: pki.pathsOf('b').key },
      code: 'CERT_INVALID',
      message: /b\/gateway\.key is not the key of the certificate in .*a\/gateway\.pem/,
    },
    {
      name: 'certificate from another anchor',
      paths: rogue.pathsOf('a'),
      options: { ca: a.ca },
      code: 'CERT_INVALID',
      message: /rogue\/a\/gateway\.pem does not chain to .*fabric\/a\/ca\.pem/,
    },
    {
      name: 'intermediate left out of the chain',
      paths: { ...rogue.pathsOf('a'), cert: join(dir, 'leaf-only.pem') },
      code: 'CERT_INVALID',
      message: /leaf-only\.pem does not chain to/,
    },
    {
      name: 'expired',
      options: { now: () => now + 2 * DAY_MS },
      code: 'CERT_INVALID',
      message: /a\/gateway\.pem expired/,
    },
    {
      name: 'not yet valid',
      options: { now: () => now - DAY_MS },
      code: 'CERT_INVALID',
      message: /a\/gateway\.pem is not valid until/,
    },
    {
      name: 'garbage CA',
      paths: { ca: join(dir, 'garbage.pem') },
      code: 'CERT_INVALID',
      message: /garbage\.pem holds no PEM/,
    },
    {
      name: 'garbage key',
      paths: { key: join(dir, 'garbage.pem') },
      code: 'CERT_INVALID',
      message: /garbage\.pem is not a PEM private key/,
    },
    {
      name: 'another cluster than expected',
      options: { expectedIdentity: { trustDomain: TD, cluster: 'b' } },
      code: 'CERT_INVALID',
      message:
        /is spiffe:\/\/acme\.test\/cluster\/a\/gateway; expected spiffe:\/\/acme\.test\/cluster\/b\/gateway/,
    },
  ];
  await writeFile(join(dir, 'garbage.pem'), 'not PEM at all\n');
  await writeFile(
    join(dir, 'leaf-only.pem'),
    rogue.issuedFor('a').certPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!,
  );
  for (const { name, paths, options, code, message } of cases) {
    const material = new TlsMaterial({ ...a, ...paths, ...options });
    await assert.rejects(material.start(), (err: unknown) => {
      assert.ok(err instanceof InfraError, `${name}: ${String(err)}`);
      assert.equal(err.code, code, name);
      assert.match(err.message, message, name);
      return true;
    });
    await material.close();
  }
});

test('a rotated certificate reaches new handshakes while an open connection keeps working', async (t) => {
  const pki = await createFabricPki(await tempDir(t), {
    trustDomain: TD,
    clusters: ['a', 'b'],
    intermediate: true,
  });
  const serverMaterial = await startedMaterial(t, pki.pathsOf('b'));
  const clientMaterial = await startedMaterial(t, pki.pathsOf('a'));
  const { server, swaps } = await serveWith(t, serverMaterial, '127.0.5.1');
  const oldServerSerial = pki.issuedFor('b').serialNumber;

  const first = await dial(server, clientMaterial, 'b');
  assert.ok(first.ok, first.ok ? '' : first.error.message);
  t.after(() => first.socket.destroy());
  assert.equal(first.serverCert.serialNumber, oldServerSerial);

  const rotated = await pki.reissue('b');
  await waitFor('the server material to swap', () => swaps.length === 1, 15_000);
  assert.equal(serverMaterial.current().serialNumber, rotated.serialNumber);
  assert.equal(serverMaterial.notAfter.getTime(), rotated.notAfter.getTime());

  const second = await dial(server, clientMaterial, 'b');
  assert.ok(second.ok, second.ok ? '' : second.error.message);
  t.after(() => second.socket.destroy());
  assert.equal(
    second.serverCert.serialNumber,
    rotated.serialNumber,
    'a new handshake sees the new certificate',
  );
  assert.notEqual(rotated.serialNumber, oldServerSerial);

  await echo(first.socket, 'still connected');
  assert.equal(first.socket.destroyed, false);
  assert.equal(
    first.socket.getPeerCertificate().serialNumber,
    oldServerSerial,
    'the open connection was not redone',
  );

  // The client side rotates the same way: the next dial presents the new client certificate.
  const clientSwaps: string[] = [];
  clientMaterial.subscribe((next) => clientSwaps.push(next.serialNumber));
  const rotatedClient = await pki.reissue('a');
  await waitFor('the client material to swap', () => clientSwaps.length === 1, 15_000);
  const third = await dial(server, clientMaterial, 'b');
  assert.ok(third.ok, third.ok ? '' : third.error.message);
  t.after(() => third.socket.destroy());
  assert.equal(server.callers.at(-1)?.serialNumber, rotatedClient.serialNumber);
  assert.equal(server.callers[0]?.serialNumber !== rotatedClient.serialNumber, true);
});

test('a corrupt file keeps the old material, reports the error, and a good file recovers', async (t) => {
  const pki = await createFabricPki(await tempDir(t), { trustDomain: TD, clusters: ['a', 'b'] });
  const serverMaterial = await startedMaterial(t, pki.pathsOf('b'));
  const clientMaterial = await startedMaterial(t, pki.pathsOf('a'));
  const { server, swaps } = await serveWith(t, serverMaterial, '127.0.5.2');
  const errors: InfraError[] = [];
  serverMaterial.onError((err) => errors.push(err));
  const before = serverMaterial.current();

  await replaceFile(pki.pathsOf('b').cert, '-----BEGIN CERTIFICATE-----\ntruncated');
  await waitFor('the corrupt file to be reported', () => errors.length >= 1, 15_000);
  assert.equal(errors[0]?.code, 'CERT_INVALID');
  assert.match(errors[0]?.message ?? '', /b\/gateway\.pem holds no PEM certificate/);
  assert.equal(serverMaterial.lastError, errors[0]);
  // Another look at the same bad bytes (a poll after the watch event) returns the error unreported.
  assert.equal(await serverMaterial.reload(), errors[0]);
  assert.equal(errors.length, 1);
  assert.equal(serverMaterial.current(), before, 'the old material stays');
  assert.equal(swaps.length, 0);
  const during = await dial(server, clientMaterial, 'b');
  assert.ok(during.ok, during.ok ? '' : during.error.message);
  during.socket.destroy();
  assert.equal(during.serverCert.serialNumber, before.serialNumber);

  // A certificate whose key was not replaced with it is refused the same way.
  const other = await pki.reissue('a');
  await waitFor('client swap', () => clientMaterial.current().serialNumber === other.serialNumber, 15_000);
  await replaceFile(pki.pathsOf('b').cert, await readFile(pki.pathsOf('a').cert, 'utf8'));
  await waitFor('the mismatched key to be reported', () => errors.length >= 2, 15_000);
  assert.match(
    errors[1]?.message ?? '',
    /b\/gateway\.key is not the key of the certificate in .*b\/gateway\.pem/,
  );
  assert.equal(serverMaterial.current(), before);

  const fixed = await pki.reissue('b');
  await waitFor('recovery', () => swaps.length === 1, 15_000);
  assert.equal(serverMaterial.current().serialNumber, fixed.serialNumber);
  assert.equal(serverMaterial.lastError, undefined);
});

test('a certificate not valid yet is refused, then loaded once it is valid, the files unchanged', async (t) => {
  const pki = await createFabricPki(await tempDir(t), { trustDomain: TD, clusters: ['a'] });
  const material = await startedMaterial(t, pki.pathsOf('a'));
  const errors: InfraError[] = [];
  material.onError((err) => errors.push(err));
  const before = material.current().serialNumber;
  // An issuer whose clock runs ahead: notBefore (its now less a 60 s skew allowance) is 2–3 s from now.
  const early = await pki.reissue('a', { now: Date.now() + 63_000 });
  const outcome = await material.reload();
  assert.ok(outcome instanceof InfraError, String(outcome));
  assert.match(outcome.message, /a\/gateway\.pem is not valid until/);
  assert.equal(material.current().serialNumber, before, 'the old material stays meanwhile');

  await waitFor(
    'the certificate to be loaded once valid',
    () => material.current().serialNumber === early.serialNumber,
    15_000,
  );
  assert.ok(Date.now() >= material.current().notBefore.getTime(), 'not loaded before its notBefore');
  assert.equal(material.lastError, undefined);
  assert.equal(errors.length, 1, errors.map((err) => err.message).join('\n'));
});

// Each case: what is written every 50 ms in the certificate's folder while a rotation happens. The
// gateway's own settle time, and no poll to fall back on: fs.watch alone must see the rotation.
const BUSY_FOLDERS: readonly [string, string, (paths: TlsFilePaths) => Promise<() => Promise<void>>][] = [
  [
    'a file written every 50 ms beside the certificate does not hold back a rotation',
    'the log is written',
    (paths) => {
      const log = join(dirname(paths.cert), 'gateway.log');
      return Promise.resolve(() => appendFile(log, '{"msg":"a log line"}\n'));
    },
  ],
  [
    'a watched file rewritten every 50 ms still lets a rotation through',
    'ca.pem keeps being rewritten',
    async (paths) => {
      const ca = await readFile(paths.ca, 'utf8');
      return () => replaceFile(paths.ca, ca);
    },
  ],
];

for (const [name, meanwhile, writerFor] of BUSY_FOLDERS) {
  test(name, async (t) => {
    const pki = await createFabricPki(await tempDir(t), { trustDomain: TD, clusters: ['a'] });
    const paths = pki.pathsOf('a');
    const material = await startedMaterial(t, paths, { settleMs: 200, pollIntervalMs: 60_000 });
    const stopWriting = keepWriting(t, 50, await writerFor(paths));
    try {
      const rotated = await pki.reissue('a');
      await waitFor(
        `the rotation to load while ${meanwhile}`,
        () => material.current().serialNumber === rotated.serialNumber,
        10_000,
      );
    } finally {
      await stopWriting();
    }
  });
}

test('polling alone notices a rotation where fs.watch is unavailable', async (t) => {
  const pki = await createFabricPki(await tempDir(t), { trustDomain: TD, clusters: ['a'] });
  const material = await startedMaterial(t, pki.pathsOf('a'), { useFsWatch: false, pollIntervalMs: 100 });
  const rotated = await pki.reissue('a');
  await waitFor(
    'the poll to pick up the new files',
    () => material.current().serialNumber === rotated.serialNumber,
    15_000,
  );
});

test('reload() coalesces concurrent calls; close() is idempotent and stops reloading', async (t) => {
  const pki: FabricPki = await createFabricPki(await tempDir(t), { trustDomain: TD, clusters: ['a'] });
  const material = await startedMaterial(t, pki.pathsOf('a'), { useFsWatch: false, pollIntervalMs: 60_000 });
  let notified = 0;
  material.subscribe(() => notified++);
  const rotated = await pki.reissue('a');
  const outcomes = await Promise.all([material.reload(), material.reload(), material.reload()]);
  assert.ok(outcomes.includes('swapped'), outcomes.join(','));
  assert.equal(notified, 1);
  assert.equal(material.current().serialNumber, rotated.serialNumber);

  await material.close();
  await material.close();
  await pki.reissue('a');
  assert.equal(await material.reload(), 'unchanged');
  assert.equal(material.current().serialNumber, rotated.serialNumber, 'material stays readable after close');
  assert.equal(notified, 1);
  await assert.rejects(material.start(), /closed/);
});

test('a Kubernetes secret volume rotation (the ..data link swapped) is seen without waiting for the poll', async (t) => {
  const dir = await tempDir(t);
  const pki = await createFabricPki(join(dir, 'pki'), { trustDomain: TD, clusters: ['a'] });
  const volume = join(dir, 'volume');
  const files = ['ca.pem', 'gateway.pem', 'gateway.key'];
  /** Copies the current files of cluster a into `..<version>` and points `..data` at it, as kubelet does. */
  const publish = async (version: string) => {
    const from = pki.pathsOf('a');
    await mkdir(join(volume, `..${version}`), { recursive: true });
    for (const [name, source] of [
      ['ca.pem', from.ca],
      ['gateway.pem', from.cert],
      ['gateway.key', from.key],
    ] as const) {
      await writeFile(join(volume, `..${version}`, name), await readFile(source));
    }
    await symlink(`..${version}`, join(volume, '..data_tmp'));
    await rename(join(volume, '..data_tmp'), join(volume, '..data'));
  };
  await publish('v1');
  for (const name of files) await symlink(join('..data', name), join(volume, name));
  const material = await startedMaterial(
    t,
    { ca: join(volume, 'ca.pem'), cert: join(volume, 'gateway.pem'), key: join(volume, 'gateway.key') },
    { settleMs: 200, pollIntervalMs: 60_000 },
  );
  const rotated = await pki.reissue('a');
  await publish('v2');
  await waitFor(
    'the swapped volume to be loaded',
    () => material.current().serialNumber === rotated.serialNumber,
    10_000,
  );
});
