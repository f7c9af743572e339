// The Redis client's TLS files are read again when a connection is dialled: a client certificate (and CA)
// rotated in place is presented at the next reconnect, against a real redis-server that requires client
// certificates and, after its restart, trusts only the new CA. A file missing mid-rotation, or a
// half-rotated cert/key pair, keeps the last good material: reported once, and reconnecting goes on.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createRedisClient, DiscoveryError, type RedisClient, type RedisConfig } from '../discovery/index.js';
import { duplicateForBlocking } from '../discovery/redis-client.js';
import { reloadingTlsOptions } from '../discovery/redis-tls-files.js';
import { createFabricPki, type FabricPki } from './helpers/fabric-pki.js';
import { tlsRedisServer } from './helpers/standalone-redis.js';
import { waitFor, within } from './helpers/wait.js';

const SERVERNAME = 'redis.gateway.acme.test';
const WAIT_MS = 20_000;

interface Files {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Copies ca, cert and key over `to` the way rotations do: a temporary file, then a rename. */
function rotate(from: Files, to: Files, which: readonly (keyof Files)[] = ['ca', 'cert', 'key']): void {
  for (const what of which) {
    copyFileSync(from[what], `${to[what]}.tmp`);
    renameSync(`${to[what]}.tmp`, to[what]);
  }
}

/**
 * Two unrelated CAs; a redis-server whose TLS port requires client certificates, its files (in `server`)
 * those of CA1 until replaced; and a client's files (in `live`) holding CA1's material.
 */
async function setup(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-redis-tls-rotation-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fabric = (name: string) =>
    createFabricPki(join(dir, name), { trustDomain: 'acme.test', clusters: ['redis', 'aws-use1'] });
  const [ca1, ca2] = await Promise.all([fabric('ca1'), fabric('ca2')]);
  const clientFiles = (pki: FabricPki): Files => pki.pathsOf('aws-use1');
  const serverFiles = (pki: FabricPki): Files => ({ ...pki.pathsOf('redis'), ca: pki.caFile });

  const folder = (name: string): Files => {
    mkdirSync(join(dir, name));
    return {
      ca: join(dir, name, 'ca.pem'),
      cert: join(dir, name, 'cert.pem'),
      key: join(dir, name, 'key.pem'),
    };
  };
  const server = folder('server');
  const live = folder('live');
  rotate(serverFiles(ca1), server);
  rotate(clientFiles(ca1), live);

  const { redis, tlsUrl } = await tlsRedisServer(t, server);

  const config: RedisConfig = {
    mode: 'standalone',
    url: tlsUrl,
    tls: { ...live, servername: SERVERNAME, insecureSkipVerify: false },
  };
  return {
    ca1,
    ca2,
    live,
    config,
    clientFiles,
    /** Restarts redis-server on the same ports with the server files of `pki` (its CA the only one trusted). */
    restartWith: async (pki: FabricPki) => {
      await redis.kill();
      rotate(serverFiles(pki), server);
      await redis.restart();
    },
  };
}

/** A client counting its 'ready' and 'reconnecting' events and collecting the DiscoveryErrors it reports. */
function observed(t: TestContext, client: RedisClient) {
  t.after(() => client.disconnect());
  const seen = { ready: 0, reconnecting: 0, reports: [] as DiscoveryError[] };
  client.on('ready', () => seen.ready++);
  client.on('reconnecting', () => seen.reconnecting++);
  client.on('error', (err: Error) => {
    if (err instanceof DiscoveryError) seen.reports.push(err);
  });
  return seen;
}

/** Resolves once `client` was ready again after `readyBefore` readies and answers PING. */
async function readyAgain(what: string, client: RedisClient, seen: { ready: number }, readyBefore: number) {
  await within(what, WAIT_MS, async () =>
    seen.ready > readyBefore && client.status === 'ready' && (await client.ping()) === 'PONG'
      ? true
      : undefined,
  );
}

test(
  'rotated Redis TLS files are used at the next reconnect, by the client and its blocking duplicate',
  { timeout: 90_000 },
  async (t) => {
    const { ca2, live, config, clientFiles, restartWith } = await setup(t);
    const client = createRedisClient(config);
    const seen = observed(t, client);
    const feed = duplicateForBlocking(client, 5000);
    const feedSeen = observed(t, feed);
    await readyAgain('the client ready with CA1 files', client, seen, 0);
    await readyAgain('the duplicate ready with CA1 files', feed, feedSeen, 0);

    // Rotate ca, cert and key in place to CA2's; connections already up are not touched.
    rotate(clientFiles(ca2), live);
    assert.equal(await client.ping(), 'PONG');
    const clientReadies = seen.ready;
    const feedReadies = feedSeen.ready;

    // Only CA2's material can connect now: the server trusts CA2 alone and shows a CA2 certificate.
    await restartWith(ca2);
    await readyAgain('the client ready again with CA2 files', client, seen, clientReadies);
    await readyAgain('the duplicate ready again with CA2 files', feed, feedSeen, feedReadies);
    assert.deepEqual([...seen.reports, ...feedSeen.reports], []);
  },
);

test(
  'a Redis TLS file missing at reconnect keeps the last good files, reported once; reconnecting goes on',
  { timeout: 90_000 },
  async (t) => {
    const { ca1, ca2, live, config, clientFiles, restartWith } = await setup(t);
    const client = createRedisClient(config);
    const seen = observed(t, client);
    await readyAgain('the client ready with CA1 files', client, seen, 0);

    // The key is gone mid-rotation when the client has to reconnect: it connects with what it read before.
    rmSync(live.key);
    let readies = seen.ready;
    await restartWith(ca1);
    await readyAgain('the client ready again with the last good files', client, seen, readies);
    assert.equal(seen.reports.length, 1, 'reported once across all the attempts');
    assert.equal(seen.reports[0]?.code, 'REDIS_UNAVAILABLE');
    assert.match(seen.reports[0]?.message ?? '', /cannot read Redis TLS key .*key\.pem \(ENOENT\)/);

    // The server moves to CA2 while the key is still missing: every attempt fails, none stops the client.
    rotate(clientFiles(ca2), live, ['ca', 'cert']);
    readies = seen.ready;
    await restartWith(ca2);
    const attempts = seen.reconnecting;
    await waitFor('three more reconnect attempts', () => seen.reconnecting >= attempts + 3, WAIT_MS);
    assert.equal(seen.ready, readies);
    assert.notEqual(client.status, 'end');
    assert.equal(seen.reports.length, 1, 'not reported again while the file is still missing');

    // The key arrives: the next attempt uses the complete CA2 files.
    rotate(clientFiles(ca2), live, ['key']);
    await readyAgain('the client ready with CA2 files once the key is back', client, seen, readies);
    assert.equal(seen.reports.length, 1);
  },
);

test('the TLS options reuse an unchanged context and keep it over a half-rotated pair', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-redis-tls-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fabric = (name: string) =>
    createFabricPki(join(dir, name), { trustDomain: 'acme.test', clusters: ['aws-use1'] });
  const [ca1, ca2] = await Promise.all([fabric('ca1'), fabric('ca2')]);
  mkdirSync(join(dir, 'live'));
  const live = {
    ca: join(dir, 'live', 'ca.pem'),
    cert: join(dir, 'live', 'cert.pem'),
    key: join(dir, 'live', 'key.pem'),
  };
  rotate(ca1.pathsOf('aws-use1'), live);
  const reports: DiscoveryError[] = [];
  const options = reloadingTlsOptions({ ...live, insecureSkipVerify: false }, (err) => reports.push(err));

  const first = options.secureContext;
  assert.ok(first);
  assert.equal(options.secureContext, first, 'unchanged files: the same context');

  // A new certificate next to the old key does not form a pair: the old context stays, reported once.
  rotate(ca2.pathsOf('aws-use1'), live, ['cert']);
  assert.equal(options.secureContext, first);
  assert.equal(options.secureContext, first);
  assert.equal(reports.length, 1);
  assert.match(
    reports[0]?.message ?? '',
    /cannot use the Redis TLS files: .*; connecting to Redis with the last good TLS files/,
  );

  // The matching key completes the rotation: a new context, used from then on.
  rotate(ca2.pathsOf('aws-use1'), live, ['key']);
  const second = options.secureContext;
  assert.notEqual(second, first);
  assert.equal(options.secureContext, second);

  // A failure after a success is reported again.
  rmSync(live.ca);
  assert.equal(options.secureContext, second);
  assert.equal(reports.length, 2);

  // When the options are made (the client is created), the same problems throw.
  assert.throws(
    () => reloadingTlsOptions({ ...live, insecureSkipVerify: false }, () => undefined),
    (err: unknown) =>
      err instanceof DiscoveryError && /cannot read Redis TLS ca .*\(ENOENT\)/.test(err.message),
  );
  rotate(ca1.pathsOf('aws-use1'), live, ['ca', 'cert']);
  assert.throws(
    () => reloadingTlsOptions({ ...live, insecureSkipVerify: false }, () => undefined),
    (err: unknown) => err instanceof DiscoveryError && /cannot use the Redis TLS files/.test(err.message),
  );
});
