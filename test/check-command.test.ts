// `weft check` finds each listed misconfiguration (table-driven, in process, against a real
// redis-server with ACL users, real certificates and real mTLS peers registered through a real
// Discovery), and the CLI prints results with hints, exits 0/1/2 and prints clean JSON with --json.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { issueGatewayCertificate, writeGatewayCertificateFiles, type TlsFilePaths } from '../infra/index.js';
import { freePort } from '../gateway/demo/free-port.js';
import { RedisServerProcess } from '../gateway/demo/redis-server-process.js';
import type { CheckReport, CheckResult } from '../gateway/cli/check/check-result.js';
import { runChecks } from '../gateway/cli/check/run-checks.js';
import { DiscoveryFixture } from './helpers/discovery-fixture.js';
import { createFabricPki, type FabricPki } from './helpers/fabric-pki.js';
import { runWeft } from './helpers/weft-cli.js';

const TRUST_DOMAIN = 'acme.test';
const HOUR = 3_600_000;

interface Env {
  dir: string;
  pki: FabricPki;
  redis: RedisServerProcess;
  deadPort: number;
}

/** A peer listener as a gateway runs it: TLS 1.3, h2, client certificate from the anchor required. */
async function peerServer(
  host: string,
  tls: TlsFilePaths,
): Promise<{ server: Http2SecureServer; address: string }> {
  const { readFile } = await import('node:fs/promises');
  const server = createSecureServer({
    ca: await readFile(tls.ca),
    cert: await readFile(tls.cert),
    key: await readFile(tls.key),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    allowHTTP1: false,
  });
  server.on('session', (session) => session.on('error', () => {}));
  server.on('sessionError', () => {});
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, address: `${host}:${(server.address() as AddressInfo).port}` };
}

async function issueInto(
  dir: string,
  pki: FabricPki,
  cluster: string,
  options: { ttlMs?: number; now?: number } = {},
) {
  const issued = await issueGatewayCertificate({ anchor: pki.anchor, cluster, ...options });
  return writeGatewayCertificateFiles(dir, issued);
}

async function writeConfig(dir: string, name: string, fields: Record<string, unknown>): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, typeof fields.raw === 'string' ? fields.raw : stringify(fields));
  return file;
}

function config(env: Env, tls: TlsFilePaths, redis: unknown = `${env.redis.url}/0`): Record<string, unknown> {
  return {
    cluster: 'aws-use1',
    locality: { cloud: 'aws', region: 'us-east-1' },
    trustDomain: TRUST_DOMAIN,
    redis,
    tls: { ca: tls.ca, cert: tls.cert, key: tls.key },
    listen: { peer: '127.0.1.1:4143' },
  };
}

function find(report: CheckReport, id: string): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  assert.ok(found, `no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
}

async function setUp(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'weft-check-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createFabricPki(join(dir, 'pki'), {
    trustDomain: TRUST_DOMAIN,
    clusters: ['aws-use1', 'gcp-euw1', 'azure-weu'],
  });
  const otherPki = await createFabricPki(join(dir, 'other-pki'), {
    trustDomain: TRUST_DOMAIN,
    clusters: ['aws-use1'],
  });
  const redis = await RedisServerProcess.start({
    args: [
      '--user',
      'default',
      'on',
      'nopass',
      '~*',
      '&*',
      '+@all',
      '--user',
      'limited',
      'on',
      '>pw',
      '~other:*',
      '&*',
      '+@all',
      '-@admin',
    ],
  });
  t.after(() => redis.stop());
  const env: Env = { dir, pki, redis, deadPort: await freePort('127.0.4.1') };

  // db 0: gcp-euw1's gateway, a real mTLS peer. db 1: azure-weu registered at an address where nothing
  // listens. db 2: a record for gcp-euw1 pointing at a server that holds azure-weu's certificate.
  const good = await peerServer('127.0.2.1', pki.pathsOf('gcp-euw1'));
  const impostor = await peerServer('127.0.3.1', pki.pathsOf('azure-weu'));
  t.after(() => good.server.close());
  t.after(() => impostor.server.close());
  const registrations: [number, string, string][] = [
    [0, 'gcp-euw1', good.address],
    [1, 'azure-weu', `127.0.4.1:${env.deadPort}`],
    [2, 'gcp-euw1', impostor.address],
  ];
  for (const [db, cluster, peerAddress] of registrations) {
    const fixture = new DiscoveryFixture(() => ({ mode: 'standalone', url: `${redis.url}/${db}` }));
    t.after(() => fixture.close());
    await fixture.start(cluster, 'gw-1', { peerAddress, leaseTtlMs: 10_000, heartbeatIntervalMs: 1000 });
  }

  const aws = pki.pathsOf('aws-use1');
  const expired = await issueInto(join(dir, 'expired'), pki, 'aws-use1', {
    ttlMs: HOUR,
    now: Date.now() - 2 * HOUR,
  });
  const nearExpiry = await issueInto(join(dir, 'near'), pki, 'aws-use1', {
    ttlMs: 24 * HOUR,
    now: Date.now() - 23 * HOUR,
  });
  const foreign = otherPki.pathsOf('aws-use1');
  const azure = pki.pathsOf('azure-weu');
  const files = {
    good: await writeConfig(dir, 'good', config(env, aws)),
    badConfig: await writeConfig(dir, 'bad', {
      ...config(env, aws),
      listen: { peer: 'nowhere' },
      colour: 'blue',
    }),
    expired: await writeConfig(dir, 'expired', config(env, expired)),
    nearExpiry: await writeConfig(dir, 'near', config(env, nearExpiry)),
    foreignAnchor: await writeConfig(dir, 'foreign', config(env, { ...foreign, ca: pki.caFile })),
    wrongIdentity: await writeConfig(dir, 'identity', config(env, { ...azure, ca: pki.caFile })),
    redisDown: await writeConfig(
      dir,
      'redis-down',
      config(env, aws, `redis://127.0.0.1:${await freePort()}`),
    ),
    redisAcl: await writeConfig(
      dir,
      'redis-acl',
      config(env, aws, { url: `${redis.url}/0`, username: 'limited', password: 'pw' }),
    ),
    peerDown: await writeConfig(dir, 'peer-down', config(env, aws, `${redis.url}/1`)),
    peerImpostor: await writeConfig(dir, 'peer-impostor', config(env, aws, `${redis.url}/2`)),
  };
  return { ...env, files };
}

test('weft check catches each misconfiguration and says what to do', { timeout: 90_000 }, async (t) => {
  const { files } = await setUp(t);
  interface Case {
    name: string;
    file: string;
    now?: () => number;
    ok: boolean;
    expect: { id: string; status: CheckResult['status']; message: RegExp; hint?: RegExp }[];
  }
  const cases: Case[] = [
    {
      name: 'everything right',
      file: files.good,
      ok: true,
      expect: [
        { id: 'config', status: 'ok', message: /cluster aws-use1/ },
        { id: 'certificate', status: 'ok', message: /valid until/ },
        { id: 'identity', status: 'ok', message: /^spiffe:\/\/acme\.test\/cluster\/aws-use1\/gateway$/ },
        { id: 'trust-anchor', status: 'ok', message: /chains to/ },
        { id: 'redis', status: 'ok', message: /answers PING/ },
        { id: 'redis-acl', status: 'ok', message: /can write, read/ },
        { id: 'clock', status: 'ok', message: /ms (ahead of|behind) Redis TIME/ },
        {
          id: 'peer:gcp-euw1/gw-1',
          status: 'ok',
          message: /mTLS ok, proves spiffe:\/\/acme\.test\/cluster\/gcp-euw1\/gateway/,
        },
      ],
    },
    {
      name: 'bad config',
      file: files.badConfig,
      ok: false,
      expect: [
        { id: 'config', status: 'fail', message: /colour|listen\.peer/, hint: /fix the fields/ },
        { id: 'redis', status: 'skip', message: /config is not valid/ },
      ],
    },
    {
      name: 'expired certificate',
      file: files.expired,
      ok: false,
      expect: [
        {
          id: 'certificate',
          status: 'fail',
          message: /expired .*ago/,
          hint: /weft certs issue .*--cluster aws-use1/,
        },
      ],
    },
    {
      name: 'certificate near expiry (a warning: exit 0)',
      file: files.nearExpiry,
      ok: true,
      expect: [
        {
          id: 'certificate',
          status: 'warn',
          message: /expires in (59|60)m \([45]% of its 24\.0h lifetime left\)/,
          hint: /weft certs issue/,
        },
      ],
    },
    {
      name: 'certificate from another trust anchor',
      file: files.foreignAnchor,
      ok: false,
      expect: [
        {
          id: 'trust-anchor',
          status: 'fail',
          message: /does not chain to .*another trust anchor/,
          hint: /same anchor/,
        },
        {
          id: 'peer:gcp-euw1/gw-1',
          status: 'fail',
          message: /refused this gateway's certificate/,
          hint: /ca\.pem/,
        },
      ],
    },
    {
      name: 'certificate of another cluster',
      file: files.wrongIdentity,
      ok: false,
      expect: [
        {
          id: 'identity',
          status: 'fail',
          message:
            /is spiffe:\/\/acme\.test\/cluster\/azure-weu\/gateway, but this gateway is cluster aws-use1/,
          hint: /--cluster aws-use1/,
        },
      ],
    },
    {
      name: 'Redis unreachable',
      file: files.redisDown,
      ok: false,
      expect: [
        {
          id: 'redis',
          status: 'fail',
          message: /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
          hint: /is Redis running/,
        },
        { id: 'redis-acl', status: 'skip', message: /not reachable/ },
        { id: 'peers', status: 'skip', message: /not reachable/ },
      ],
    },
    {
      name: 'Redis ACL user without the registry keys',
      file: files.redisAcl,
      ok: false,
      expect: [
        {
          id: 'redis-acl',
          status: 'fail',
          message: /user limited may not write \(SET\): NOPERM/,
          hint: /ACL SETUSER limited .*~weft:\{v1\}:\*/,
        },
      ],
    },
    {
      name: 'peer gateway unreachable',
      file: files.peerDown,
      ok: false,
      expect: [
        {
          id: 'peer:azure-weu/gw-1',
          status: 'fail',
          message: /unreachable: ECONNREFUSED/,
          hint: /is azure-weu's gateway running/,
        },
      ],
    },
    {
      name: 'peer with the wrong identity',
      file: files.peerImpostor,
      ok: false,
      expect: [
        {
          id: 'peer:gcp-euw1/gw-1',
          status: 'fail',
          message:
            /peer certificate is spiffe:\/\/acme\.test\/cluster\/azure-weu\/gateway; expected spiffe:\/\/acme\.test\/cluster\/gcp-euw1\/gateway/,
          hint: /stale or poisoned record/,
        },
      ],
    },
    {
      name: 'clock 20 s ahead of Redis',
      file: files.good,
      now: () => Date.now() + 20_000,
      ok: false,
      expect: [
        { id: 'clock', status: 'fail', message: /(19\d{3}|2\d{4}) ms ahead of Redis TIME/, hint: /NTP/ },
      ],
    },
    {
      name: 'clock 3 s behind Redis (a warning)',
      file: files.good,
      now: () => Date.now() - 3_000,
      ok: true,
      expect: [{ id: 'clock', status: 'warn', message: /\d{4} ms behind Redis TIME/ }],
    },
  ];
  for (const c of cases) {
    const started: string[] = [];
    const finished: string[] = [];
    const report = await runChecks({
      configPath: c.file,
      timeoutMs: 2000,
      ...(c.now ? { now: c.now } : {}),
      onStart: (id) => started.push(id),
      onResult: (r) => finished.push(r.id),
    });
    const describe = JSON.stringify(
      report.checks.map((r) => [r.id, r.status, r.message]),
      null,
      1,
    );
    assert.equal(report.ok, c.ok, `${c.name}: ok ${report.ok}\n${describe}`);
    assert.deepEqual(started, finished, `${c.name}: progress reported for every check, in order`);
    for (const e of c.expect) {
      const result = find(report, e.id);
      assert.equal(result.status, e.status, `${c.name}: ${e.id} is ${result.status}: ${result.message}`);
      assert.match(result.message, e.message, `${c.name}: ${e.id}`);
      if (e.hint) assert.match(result.hint ?? '', e.hint, `${c.name}: ${e.id} hint`);
      if (e.status === 'fail' || e.status === 'warn')
        assert.ok(result.hint, `${c.name}: ${e.id} says what to do next`);
    }
  }

  // The CLI: human output with progress per check and a summary, exit codes, clean JSON.
  const [good, broken, usage] = await Promise.all([
    runWeft(['check', '--config', files.good]),
    runWeft(['check', '--config', files.peerDown, '--json']),
    runWeft(['check']),
  ]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^✓ config +.*cluster aws-use1/m);
  assert.match(good.stdout, /^✓ peer gcp-euw1\/gw-1 +127\.0\.2\.1:\d+ mTLS ok/m);
  assert.match(good.stdout, /^weft check: \d+ ok, 0 warnings, 0 failures — all good$/m);
  assert.equal(broken.code, 1);
  const json = JSON.parse(broken.stdout) as CheckReport;
  assert.equal(json.ok, false);
  assert.equal(json.summary.fail, 1);
  assert.match(broken.stderr, /1 check\(s\) failed/);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--config/);
});
