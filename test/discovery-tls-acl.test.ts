// Discovery over TLS (server verified against the fabric's CA and its name, client certificate
// presented) as an ACL user confined to the registry's keys; wrong credentials are a clear,
// non-fatal error: start() still resolves, bounded, and the gateway reports why it has not synced.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import type { RedisConfig } from '../discovery/index.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { DiscoveryFixture, exported, service } from './helpers/discovery-fixture.js';
import { tlsRedisServer } from './helpers/standalone-redis.js';
import { waitFor, within } from './helpers/wait.js';

test('TLS with client certificates and an ACL user limited to weft keys', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-redis-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await createFabricPki(dir, {
    trustDomain: 'acme.test',
    clusters: ['redis', 'aws-use1', 'gcp-euw1'],
  });
  const server = pki.pathsOf('redis');
  const { redis, tlsUrl } = await tlsRedisServer(t, { cert: server.cert, key: server.key, ca: pki.caFile }, [
    '--user',
    'weft',
    'on',
    '>s3cret',
    '~weft:{v1}:*',
    '&*',
    '+@all',
    '-@admin',
    '--user',
    'admin',
    'on',
    '>adminpw',
    '~*',
    '&*',
    '+@all',
    '--user',
    'default',
    'off',
  ]);

  const config = (cluster: string, password: string): RedisConfig => {
    const files = pki.pathsOf(cluster);
    return {
      mode: 'standalone',
      url: tlsUrl,
      username: 'weft',
      password,
      tls: {
        ca: pki.caFile,
        cert: files.cert,
        key: files.key,
        servername: 'redis.gateway.acme.test',
        insecureSkipVerify: false,
      },
    };
  };
  const fx = new DiscoveryFixture(() => config('aws-use1', 's3cret'));
  t.after(() => fx.close());

  const a = fx.create('aws-use1', 'gw-a');
  a.setLocalServices([service('hello')]);
  await a.start();
  assert.equal(a.synced, true, a.status().lastError ?? '');
  const b = await fx.start('gcp-euw1', 'gw-b', { redis: config('gcp-euw1', 's3cret') });
  await within('b sees a over TLS', 5000, () => exported(b, 'aws-use1', 'hello.default'));

  // The ACL user can touch the registry's keys only.
  const admin = new Redis(redis.port, '127.0.0.1', { username: 'admin', password: 'adminpw' });
  t.after(() => admin.disconnect());
  assert.ok((await admin.hlen('weft:{v1}:gateways')) === 2);
  const user = new Redis(redis.port, '127.0.0.1', { username: 'weft', password: 's3cret' });
  t.after(() => user.disconnect());
  await assert.rejects(user.set('not-weft', '1'), /NOPERM/);

  // Wrong password: start() resolves after its bounded wait; the status says why.
  const started = Date.now();
  const wrong = await fx.start('azure-eus', 'gw-c', {
    redis: config('gcp-euw1', 'wrong'),
    startTimeoutMs: 1000,
  });
  assert.ok(Date.now() - started < 3000);
  assert.equal(wrong.synced, false);
  await waitFor(
    'the auth error is reported',
    () => /WRONGPASS|invalid username-password/i.test(wrong.status().lastError ?? ''),
    5000,
  );

  // A TLS file that cannot be read is a configuration error: start() rejects with a clear message.
  const broken = fx.create('azure-eus', 'gw-d', {
    redis: {
      ...config('gcp-euw1', 's3cret'),
      tls: { ca: join(dir, 'missing.pem'), insecureSkipVerify: false },
    },
  });
  await assert.rejects(broken.start(), /cannot read Redis TLS ca/);
});
