// The identity grammar and the peer-certificate checks the data plane relies on: strict parsing of
// gateway SPIFFE IDs, exactly one URI SAN, no smuggling of a second identity through a crafted SAN value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  callerIdentityOf,
  checkServerIdentityFor,
  createTrustAnchor,
  gatewayIdentityOf,
  InfraError,
  issueGatewayCertificate,
  parseGatewayIdentity,
  spiffeIdFor,
  verifyPeerIdentity,
} from '../infra/index.js';

const TD = 'acme.test';

/** A self-signed certificate with exactly the SAN entries given, for shapes infra/pki never issues. */
async function certWithSans(names: x509.JsonGeneralNames): Promise<X509Certificate> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=crafted',
    keys,
    signingAlgorithm: algorithm,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return new X509Certificate(cert.toString('pem'));
}

test('spiffeIdFor and parseGatewayIdentity round-trip', () => {
  const id = spiffeIdFor(TD, 'aws-use1');
  assert.equal(id, 'spiffe://acme.test/cluster/aws-use1/gateway');
  assert.deepEqual(parseGatewayIdentity(id), { trustDomain: TD, cluster: 'aws-use1' });
});

test('parseGatewayIdentity rejects everything that is not exactly a gateway SPIFFE ID', () => {
  for (const uri of [
    '',
    'spiffe://acme.test/cluster/a/gateway/',
    'spiffe://acme.test/cluster/a/gateway/x',
    'spiffe://acme.test/cluster//gateway',
    'spiffe://acme.test/cluster/A/gateway',
    'spiffe://ACME.test/cluster/a/gateway',
    'spiffe://acme.test:443/cluster/a/gateway',
    'spiffe://user@acme.test/cluster/a/gateway',
    'spiffe://acme.test/cluster/a/gateway?x=1',
    'spiffe://acme.test/cluster/a/gateway#f',
    'spiffe://acme.test/ns/default/sa/a',
    'https://acme.test/cluster/a/gateway',
    'SPIFFE://acme.test/cluster/a/gateway',
    'spiffe://acme.test/cluster/-a/gateway',
    `spiffe://acme.test/cluster/${'a'.repeat(64)}/gateway`,
  ]) {
    assert.equal(parseGatewayIdentity(uri), undefined, uri);
  }
});

test('spiffeIdFor refuses names outside the grammar', () => {
  assert.throws(() => spiffeIdFor('Acme.test', 'a'), RangeError);
  assert.throws(() => spiffeIdFor(TD, 'a_b'), RangeError);
  assert.throws(() => spiffeIdFor(TD, 'a/b'), RangeError);
});

test('gatewayIdentityOf reads the URI SAN of an issued certificate', async () => {
  const anchor = await createTrustAnchor({ trustDomain: TD });
  const issued = await issueGatewayCertificate({ anchor, cluster: 'gcp-euw1' });
  const cert = new X509Certificate(issued.certPem);
  assert.deepEqual(gatewayIdentityOf(cert), { trustDomain: TD, cluster: 'gcp-euw1' });
  assert.equal(verifyPeerIdentity(cert, { trustDomain: TD, cluster: 'gcp-euw1' }), undefined);
  const wrong = verifyPeerIdentity(cert, { trustDomain: TD, cluster: 'aws-use1' });
  assert.ok(wrong instanceof InfraError);
  assert.equal(wrong.code, 'PEER_IDENTITY');
  assert.match(wrong.message, /is spiffe:\/\/acme\.test\/cluster\/gcp-euw1\/gateway; expected .*aws-use1/);
  const otherDomain = verifyPeerIdentity(cert, { trustDomain: 'other.test', cluster: 'gcp-euw1' });
  assert.equal(otherDomain?.code, 'PEER_IDENTITY');
});

test('a certificate with two URI SANs proves no identity', async () => {
  const cert = await certWithSans([
    { type: 'url', value: 'spiffe://acme.test/cluster/a/gateway' },
    { type: 'url', value: 'spiffe://acme.test/cluster/b/gateway' },
  ]);
  assert.equal(gatewayIdentityOf(cert), undefined);
  assert.match(verifyPeerIdentity(cert, { trustDomain: TD, cluster: 'a' })?.message ?? '', /has 2 URI SANs/);
});

test('a SAN value cannot smuggle a second identity past the parser', async () => {
  const cert = await certWithSans([
    { type: 'url', value: 'spiffe://evil.test/x, URI:spiffe://acme.test/cluster/b/gateway' },
  ]);
  assert.equal(gatewayIdentityOf(cert), undefined, cert.subjectAltName);
  const dns = await certWithSans([
    { type: 'dns', value: 'x.test, URI:spiffe://acme.test/cluster/b/gateway' },
  ]);
  assert.equal(gatewayIdentityOf(dns), undefined, dns.subjectAltName);
});

test('certificates without a gateway SPIFFE ID are refused with a reason', async () => {
  const none = await certWithSans([]);
  assert.match(verifyPeerIdentity(none, { trustDomain: TD, cluster: 'a' })?.message ?? '', /has no URI SAN/);
  const workload = await certWithSans([{ type: 'url', value: 'spiffe://acme.test/ns/default/sa/web' }]);
  assert.match(
    verifyPeerIdentity(workload, { trustDomain: TD, cluster: 'a' })?.message ?? '',
    /spiffe:\/\/acme\.test\/ns\/default\/sa\/web, which is not a gateway SPIFFE ID/,
  );
  // What getPeerCertificate() returns when the peer sent no certificate at all.
  const empty = {} as PeerCertificate;
  assert.equal(gatewayIdentityOf(empty), undefined);
  assert.equal(
    checkServerIdentityFor({ trustDomain: TD, cluster: 'a' })('127.0.0.1', empty)?.name,
    'InfraError',
  );
});

test('callerIdentityOf accepts gateways of its trust domain only', () => {
  const caller = (san: string) => ({ subjectaltname: san }) as PeerCertificate;
  assert.deepEqual(
    callerIdentityOf(caller('URI:spiffe://acme.test/cluster/a/gateway, DNS:a.gateway.acme.test'), TD),
    {
      trustDomain: TD,
      cluster: 'a',
    },
  );
  const foreign = callerIdentityOf(caller('URI:spiffe://other.test/cluster/a/gateway'), TD);
  assert.ok(foreign instanceof InfraError);
  assert.match(foreign.message, /outside trust domain acme\.test/);
  const anonymous = callerIdentityOf(caller('DNS:a.gateway.acme.test'), TD);
  assert.ok(anonymous instanceof InfraError);
  assert.equal(anonymous.code, 'PEER_IDENTITY');
});
