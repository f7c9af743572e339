// Real TLS on loopback between gateway certificates from infra/pki: the chain verifies with Node's own
// TLS stack, identities are read from the peer certificate on both sides, and certificates from another
// anchor or for another cluster are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import {
  callerIdentityOf,
  checkServerIdentityFor,
  gatewayIdentityOf,
  InfraError,
  type TlsFilePaths,
} from '../infra/index.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { connectMtls, startMtlsEchoServer } from './helpers/mtls-echo.js';

const TD = 'acme.test';

function tlsFiles(paths: TlsFilePaths): SecureContextOptions {
  return {
    ca: readFileSync(paths.ca),
    cert: readFileSync(paths.cert),
    key: readFileSync(paths.key),
    minVersion: 'TLSv1.3',
  };
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

for (const intermediate of [false, true]) {
  test(`two clusters complete mutual TLS 1.3 and read each other's identity (${intermediate ? 'intermediate issuer' : 'root issuer'})`, async (t) => {
    const pki = await createFabricPki(await tempDir(t), {
      trustDomain: TD,
      clusters: ['aws-use1', 'gcp-euw1'],
      intermediate,
    });
    const a = pki.pathsOf('aws-use1');
    const b = pki.pathsOf('gcp-euw1');
    // The trust bundle is the root alone; an intermediate must travel in the gateway's chain.
    const bundle = readFileSync(b.ca, 'utf8');
    assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 1);
    assert.equal(readFileSync(b.cert, 'utf8').match(/BEGIN CERTIFICATE/g)?.length, intermediate ? 2 : 1);
    assert.ok(new X509Certificate(bundle).ca);

    const server = await startMtlsEchoServer(tlsFiles(b), '127.0.2.1');
    t.after(() => server.close());
    const result = await connectMtls({
      host: server.host,
      port: server.port,
      ...tlsFiles(a),
      checkServerIdentity: checkServerIdentityFor({ trustDomain: TD, cluster: 'gcp-euw1' }),
    });
    assert.ok(result.ok, result.ok ? '' : result.error.message);
    t.after(() => result.socket.destroy());
    assert.equal(result.socket.getProtocol(), 'TLSv1.3');
    assert.deepEqual(gatewayIdentityOf(result.serverCert), { trustDomain: TD, cluster: 'gcp-euw1' });
    assert.equal(server.callers.length, 1);
    assert.deepEqual(callerIdentityOf(server.callers[0]!, TD), { trustDomain: TD, cluster: 'aws-use1' });
  });
}

test('dialling cluster B, a server proving cluster C is refused whatever its address', async (t) => {
  const pki = await createFabricPki(await tempDir(t), { trustDomain: TD, clusters: ['a', 'b', 'c'] });
  // A poisoned discovery record points "b" at c's gateway: same anchor, valid chain, wrong identity.
  const server = await startMtlsEchoServer(tlsFiles(pki.pathsOf('c')), '127.0.3.1');
  t.after(() => server.close());
  const result = await connectMtls({
    host: server.host,
    port: server.port,
    ...tlsFiles(pki.pathsOf('a')),
    checkServerIdentity: checkServerIdentityFor({ trustDomain: TD, cluster: 'b' }),
  });
  assert.ok(!result.ok);
  assert.ok(result.error instanceof InfraError, result.error.message);
  assert.equal(result.error.code, 'PEER_IDENTITY');
  assert.match(
    result.error.message,
    /spiffe:\/\/acme\.test\/cluster\/c\/gateway; expected spiffe:\/\/acme\.test\/cluster\/b\/gateway/,
  );
});

test('a client certificate from a different trust anchor fails the handshake', async (t) => {
  const dir = await tempDir(t);
  const fabric = await createFabricPki(join(dir, 'fabric'), { trustDomain: TD, clusters: ['a', 'b'] });
  // Same trust domain and cluster name, but minted by an anchor the fabric never trusted.
  const rogue = await createFabricPki(join(dir, 'rogue'), { trustDomain: TD, clusters: ['a'] });
  const server = await startMtlsEchoServer(tlsFiles(fabric.pathsOf('b')), '127.0.4.1');
  t.after(() => server.close());
  const rogueClient = tlsFiles(rogue.pathsOf('a'));
  const result = await connectMtls({
    host: server.host,
    port: server.port,
    ...rogueClient,
    ca: readFileSync(fabric.caFile), // it even trusts the real server: only its own certificate is wrong
    checkServerIdentity: checkServerIdentityFor({ trustDomain: TD, cluster: 'b' }),
  });
  assert.equal(result.ok, false);
  assert.equal(server.callers.length, 0, 'the server must not accept the rogue caller');
  assert.deepEqual(server.refused, ['UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
});

test('a server certificate from a different trust anchor fails the handshake', async (t) => {
  const dir = await tempDir(t);
  const fabric = await createFabricPki(join(dir, 'fabric'), { trustDomain: TD, clusters: ['a', 'b'] });
  const rogue = await createFabricPki(join(dir, 'rogue'), {
    trustDomain: TD,
    clusters: ['b'],
    intermediate: true,
  });
  const server = await startMtlsEchoServer(
    { ...tlsFiles(rogue.pathsOf('b')), ca: readFileSync(fabric.caFile) },
    '127.0.4.2',
  );
  t.after(() => server.close());
  const result = await connectMtls({
    host: server.host,
    port: server.port,
    ...tlsFiles(fabric.pathsOf('a')),
    checkServerIdentity: checkServerIdentityFor({ trustDomain: TD, cluster: 'b' }),
  });
  assert.equal(result.ok, false);
  const code = (result as { error: NodeJS.ErrnoException }).error.code ?? '';
  assert.match(code, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_SIGNATURE_FAILURE/);
});
