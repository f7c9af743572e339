// peerChainsTo on the chain Node hands out after a real mutual-TLS handshake: a gateway certificate issued
// by an intermediate chains to its root, not to another anchor, and still to its root when that root
// shares a bundle with others. The chain Node builds holds the handshake's root too; a bundle without
// that root must not count it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayDnsNameFor, parseCertificateBundle, peerChainsTo } from '../infra/index.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { connectMtls, startMtlsEchoServer } from './helpers/mtls-echo.js';

const TD = 'acme.test';

test("peerChainsTo follows a peer's chain through its intermediate to the anchors given, and only those", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-chain-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createFabricPki(join(dir, 'one'), {
    trustDomain: TD,
    clusters: ['a', 'b'],
    intermediate: true,
  });
  const other = await createFabricPki(join(dir, 'other'), { trustDomain: TD, clusters: ['a'] });
  const read = async (path: string) => readFile(path);
  const b = pki.pathsOf('b');
  const a = pki.pathsOf('a');
  const server = await startMtlsEchoServer({
    ca: await read(b.ca),
    cert: await read(b.cert),
    key: await read(b.key),
  });
  t.after(() => new Promise<void>((resolve) => server.server.close(() => resolve())));
  const connected = await connectMtls({
    host: server.host,
    port: server.port,
    ca: await read(a.ca),
    cert: await read(a.cert),
    key: await read(a.key),
    servername: gatewayDnsNameFor(TD, 'b'),
    checkServerIdentity: () => undefined,
  });
  assert.ok(connected.ok, connected.ok ? '' : connected.error.message);
  const socket = connected.socket;
  t.after(() => socket.destroy());

  const root = parseCertificateBundle(await readFile(pki.caFile, 'latin1'));
  const otherRoot = parseCertificateBundle(await readFile(other.caFile, 'latin1'));
  const chain = socket.getPeerCertificate(true);
  assert.ok(chain.issuerCertificate, 'the peer sent its intermediate');

  assert.equal(peerChainsTo(chain, root), true, 'through the intermediate to its root');
  assert.equal(
    peerChainsTo(chain, otherRoot),
    false,
    'not to another anchor, though the chain holds its root',
  );
  assert.equal(peerChainsTo(chain, [...otherRoot, ...root]), true, 'to its root among others (a rollover)');
  assert.equal(peerChainsTo(chain, []), false);
  socket.destroy();
  assert.equal(peerChainsTo(socket.getPeerCertificate(true), root), false, 'no certificate once destroyed');
});
