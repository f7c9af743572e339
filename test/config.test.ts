import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  loadConfigFile,
  parseConfigText,
  formatDuration,
  parseDurationMs,
  parseConfigObject,
  planReload,
} from '../gateway/config/index.js';
import { MINIMAL_CONFIG } from './helpers/gateway-config.js';

const VALID = `
cluster: aws-use1
locality: { cloud: aws, region: us-east-1, zone: us-east-1a }
trustDomain: acme.test
redis: redis://127.0.0.1:6379/0
tls: { ca: ca.pem, cert: gateway.pem, key: gateway.key }
listen:
  peer: 127.0.1.1:4143
services:
  - name: hello
    endpoints: [10.0.0.5:8080]
    health: { http: /healthz }
    allow: [gcp-euw1]
tcp:
  - { listen: 127.0.0.1:15432, service: db.default }
`;

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, '/etc/weft/gateway.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.problems.map((p) => `${p.path || '(top level)'}: ${p.message}`);
  }
  assert.fail('config was accepted');
}

test('a valid config is fully defaulted, frozen, with paths resolved against its folder', () => {
  const config = parseConfigText(VALID, '/etc/weft/gateway.yaml');
  assert.equal(config.zone, 'clusterset.local');
  assert.equal(config.defaultNamespace, 'default');
  assert.deepEqual(config.redis, { mode: 'standalone', url: 'redis://127.0.0.1:6379/0' });
  assert.equal(config.tls.ca, '/etc/weft/ca.pem');
  assert.deepEqual(config.listen.outbound, { host: '127.0.0.1', port: 4140 });
  assert.deepEqual(config.listen.admin, { host: '127.0.0.1', port: 9990 });
  assert.deepEqual(config.advertise, { host: '127.0.1.1', port: 4143 });
  assert.equal(config.listen.dns, undefined);
  const [hello] = config.services;
  assert.equal(hello?.key, 'hello.default');
  assert.equal(hello?.protocol, 'http');
  assert.deepEqual(hello?.endpoints, [{ address: { host: '10.0.0.5', port: 8080 }, weight: 1 }]);
  assert.deepEqual(hello?.health, { http: '/healthz', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 2 });
  assert.deepEqual(hello?.allow, ['gcp-euw1']);
  assert.deepEqual(config.discovery, {
    leaseTtlMs: 5000,
    heartbeatIntervalMs: 1000,
    staleForMs: 30000,
    resyncIntervalMs: 10000,
    snapshotFile: '/etc/weft/weft-snapshot-aws-use1.json',
  });
  assert.equal(config.drainTimeoutMs, 10000);
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.services[0]) && Object.isFrozen(config.listen));
});

test('limits: a caller connection gets 100 streams by default; a limit is a whole number 1..10000', () => {
  assert.deepEqual(parseConfigText(VALID, '/etc/weft/gateway.yaml').limits, { callerStreams: 100 });
  const raised = parseConfigText(VALID + 'limits: { callerStreams: 1000 }\n', '/etc/weft/gateway.yaml');
  assert.equal(raised.limits.callerStreams, 1000);
  for (const [value, message] of [
    ['0', 'callerStreams must be at least 1'],
    ['2.5', 'callerStreams is a whole number of streams'],
    ['10001', 'callerStreams is at most 10000'],
    ['many', 'expected number'],
  ] as const) {
    const problems = problemsOf(VALID + `limits: { callerStreams: ${value} }\n`);
    assert.equal(problems.length, 1, problems.join('; '));
    assert.match(problems[0] ?? '', new RegExp(`^limits\\.callerStreams: .*${message}`), value);
  }
  assert.match(problemsOf(VALID + 'limits: { streams: 5 }\n').join('; '), /limits.*streams/);
});

test('observability: access logs and span export are off by default; tracing gets its defaults', () => {
  const plain = parseConfigText(VALID, '/etc/weft/gateway.yaml');
  assert.deepEqual(plain.observability, { accessLogSampleRate: 0 });
  const traced = parseConfigText(
    VALID + 'observability: { tracing: { otlpEndpoint: "http://otel-collector:4318/v1/traces" } }\n',
    '/etc/weft/gateway.yaml',
  );
  assert.deepEqual(traced.observability.tracing, {
    otlpEndpoint: 'http://otel-collector:4318/v1/traces',
    sampleRate: 1,
    serviceName: 'weft-gateway',
  });
});

test('Redis Sentinel and Cluster forms normalize with TLS paths resolved', () => {
  const sentinel = parseConfigText(
    VALID.replace(
      'redis: redis://127.0.0.1:6379/0',
      'redis: { sentinels: ["127.0.0.1:26379", "[::1]:26380"], name: mymaster, password: s3cret, tls: { ca: redis-ca.pem } }',
    ),
    '/etc/weft/gateway.yaml',
  );
  assert.deepEqual(sentinel.redis, {
    mode: 'sentinel',
    sentinels: [
      { host: '127.0.0.1', port: 26379 },
      { host: '::1', port: 26380 },
    ],
    name: 'mymaster',
    db: 0,
    username: undefined,
    password: 's3cret',
    sentinelUsername: undefined,
    sentinelPassword: undefined,
    tls: { ca: '/etc/weft/redis-ca.pem', insecureSkipVerify: false },
  });
  const cluster = parseConfigText(
    VALID.replace('redis: redis://127.0.0.1:6379/0', 'redis: { cluster: ["127.0.0.1:7000"], tls: true }'),
    '/etc/weft/gateway.yaml',
  );
  assert.equal(cluster.redis.mode, 'cluster');
  assert.deepEqual(cluster.redis.tls, { insecureSkipVerify: false });
});

const REJECTIONS: [string, string, string][] = [
  ['unknown top-level key', VALID + 'bogus: 1\n', '(top level): Unrecognized key: "bogus"'],
  [
    'cluster not a DNS label',
    VALID.replace('cluster: aws-use1', 'cluster: AWS_1'),
    'cluster: cluster must be a DNS label',
  ],
  ['missing trust domain', VALID.replace('trustDomain: acme.test\n', ''), 'trustDomain:'],
  [
    'an allow list longer than a service record carries',
    VALID.replace(
      'allow: [gcp-euw1]',
      `allow: [${Array.from({ length: 1001 }, (_, i) => `c${i}`).join(', ')}]`,
    ),
    'services[0].allow: Too big',
  ],
  [
    'endpoint without port',
    VALID.replace('10.0.0.5:8080', '10.0.0.5'),
    'services[0].endpoints[0]: "10.0.0.5" is not host:port',
  ],
  ['port out of range', VALID.replace('10.0.0.5:8080', '10.0.0.5:70000'), 'services[0].endpoints[0]:'],
  [
    'an address a URL reads otherwise',
    VALID.replace('10.0.0.5:8080', '999.0.0.5:8080'),
    'services[0].endpoints[0]: "999.0.0.5:8080" is not host:port',
  ],
  [
    'an IPv6 address that is none',
    VALID.replace('10.0.0.5:8080', '"[1:2]:8080"'),
    'services[0].endpoints[0]:',
  ],
  [
    'bad protocol',
    VALID.replace('  - name: hello\n', '  - name: hello\n    protocol: udp\n'),
    'services[0].protocol:',
  ],
  [
    'bad duration',
    VALID.replace('{ http: /healthz }', '{ http: /healthz, interval: 2x }'),
    'services[0].health.interval: "2x" is not a duration',
  ],
  [
    'health path without slash',
    VALID.replace('/healthz', 'healthz'),
    'services[0].health.http: http health path must start with /',
  ],
  [
    'unknown key in a service',
    VALID.replace('    allow: [gcp-euw1]', '    allow: [gcp-euw1]\n    weight: 3'),
    'services[0]: Unrecognized key: "weight"',
  ],
  [
    'sentinel without name',
    VALID.replace('redis: redis://127.0.0.1:6379/0', 'redis: { sentinels: ["127.0.0.1:26379"] }'),
    'redis.name:',
  ],
  [
    'redis URL scheme',
    VALID.replace('redis://127.0.0.1:6379/0', 'http://127.0.0.1:6379'),
    'redis: redis must be a redis:// or rediss:// URL',
  ],
  [
    'wildcard peer without advertise',
    VALID.replace('peer: 127.0.1.1:4143', 'peer: 0.0.0.0:4143'),
    'advertise: listen.peer is a wildcard address',
  ],
  [
    'duplicate service',
    VALID.replace('tcp:', '  - name: hello\n    endpoints: []\ntcp:'),
    'services[1]: service hello.default is listed twice',
  ],
  [
    'duplicate tcp listener',
    VALID + '  - { listen: 127.0.0.1:15432, service: other.default }\n',
    'tcp[1].listen: 127.0.0.1:15432 is bound twice',
  ],
  [
    'heartbeat not shorter than lease',
    VALID + 'discovery: { leaseTtl: 1s, heartbeatInterval: 2s }\n',
    'discovery.heartbeatInterval: must be shorter',
  ],
  [
    'tracing endpoint not an http URL',
    VALID + 'observability: { tracing: { otlpEndpoint: "127.0.0.1:4318" } }\n',
    'observability.tracing.otlpEndpoint: otlpEndpoint must be an http(s) URL',
  ],
  [
    'tracing sample rate above 1',
    VALID + 'observability: { tracing: { otlpEndpoint: "http://c:4318/v1/traces", sampleRate: 2 } }\n',
    'observability.tracing.sampleRate: sampleRate is a share of new traces, 0..1',
  ],
  [
    'unknown key in tracing',
    VALID + 'observability: { tracing: { otlpEndpoint: "http://c:4318/v1/traces", headers: {} } }\n',
    'observability.tracing: Unrecognized key: "headers"',
  ],
  ['YAML syntax error', 'cluster: [unclosed\n', 'line '],
  ['duplicate YAML key', VALID + 'cluster: again\n', 'line '],
];

for (const [name, text, expected] of REJECTIONS) {
  test(`config rejection: ${name}`, () => {
    const problems = problemsOf(text);
    assert.ok(
      problems.some((p) => p.includes(expected)),
      `expected a problem containing ${JSON.stringify(expected)}, got:\n${problems.join('\n')}`,
    );
  });
}

test('every problem is listed at once, with its path', () => {
  const problems = problemsOf(
    VALID.replace('cluster: aws-use1', 'cluster: AWS').replace('10.0.0.5:8080', 'nope') + 'extra: true\n',
  );
  assert.equal(problems.length, 3, problems.join('\n'));
});

test('an unreadable file says which file', async () => {
  await assert.rejects(loadConfigFile('/nonexistent/gateway.yaml'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'CONFIG_UNREADABLE');
    assert.match(err.message, /\/nonexistent\/gateway\.yaml/);
    return true;
  });
  const dir = await mkdtemp(join(tmpdir(), 'weft-config-'));
  await writeFile(join(dir, 'gateway.yaml'), VALID);
  const config = await loadConfigFile(join(dir, 'gateway.yaml'));
  assert.equal(config.tls.cert, join(dir, 'gateway.pem'));
});

test('durations parse and format both ways', () => {
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('2s'), 2000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('1m'), 60000);
  assert.equal(parseDurationMs('24h'), 86_400_000);
  assert.equal(parseDurationMs('2'), undefined);
  assert.equal(parseDurationMs('-1s'), undefined);
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(120000), '2m');
});

test('a reload plan applies services and policy, and keeps and names what needs a restart', () => {
  const running = parseConfigObject(
    { ...MINIMAL_CONFIG, services: [{ name: 'a', endpoints: ['10.0.0.1:80'] }] },
    '/test/gateway.yaml',
  );
  const next = parseConfigObject(
    {
      ...MINIMAL_CONFIG,
      cluster: 'aws-use2',
      zone: 'other.example',
      services: [{ name: 'b', endpoints: ['10.0.0.2:80'] }],
      failover: { peerProbe: { interval: '3s' }, retries: { attempts: 4 } },
      drainTimeout: '9s',
    },
    '/test/gateway.yaml',
  );
  const plan = planReload(running, next);
  // discovery settings derive from the cluster name, so they change with it.
  assert.deepEqual(plan.restartNeeded, ['cluster', 'zone', 'discovery', 'failover.peerProbe']);
  assert.equal(plan.config.cluster, 'aws-use1');
  assert.equal(plan.config.zone, running.zone);
  assert.deepEqual(plan.config.failover.peerProbe, running.failover.peerProbe);
  assert.deepEqual(plan.config.failover.retries, next.failover.retries, 'retries apply at once');
  assert.deepEqual(
    plan.config.services.map((s) => s.name),
    ['b'],
  );
  assert.equal(plan.config.drainTimeoutMs, 9_000);
  assert.deepEqual(planReload(running, running).restartNeeded, []);
});

test('zero intervals that would spin are rejected with what the minimum is', () => {
  for (const [section, path] of [
    [{ discovery: { heartbeatInterval: '0ms' } }, 'discovery.heartbeatInterval'],
    [{ discovery: { resyncInterval: '0ms' } }, 'discovery.resyncInterval'],
    [
      { services: [{ name: 'a', endpoints: ['10.0.0.1:80'], health: { tcp: true, interval: '0ms' } }] },
      'services[0].health.interval',
    ],
  ] as const) {
    assert.throws(
      () => parseConfigObject({ ...MINIMAL_CONFIG, ...section }, '/test/gateway.yaml'),
      (err: Error) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(err.message.includes(`${path}: "0ms" is too short: at least `), err.message);
        return true;
      },
      path,
    );
  }
});

test('durations longer than a timer holds (about 24.8 days) are rejected, not made to fire at once', () => {
  for (const [section, path] of [
    [{ failover: { timeouts: { request: '25d' } } }, 'failover.timeouts.request'],
    [{ discovery: { staleFor: '30d' } }, 'discovery.staleFor'],
  ] as const) {
    assert.throws(
      () => parseConfigObject({ ...MINIMAL_CONFIG, ...section }, '/test/gateway.yaml'),
      (err: Error) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(
          err.message.includes(`${path}: "`) && err.message.includes('is too long: at most 24d'),
          err.message,
        );
        return true;
      },
      path,
    );
  }
  assert.doesNotThrow(() =>
    parseConfigObject(
      { ...MINIMAL_CONFIG, failover: { timeouts: { request: '24d' } } },
      '/test/gateway.yaml',
    ),
  );
});

function configProblems(section: Record<string, unknown>): string[] {
  try {
    parseConfigObject({ ...MINIMAL_CONFIG, ...section }, '/test/gateway.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

test('IPv6 hosts are kept canonical (RFC 5952), so one address has one spelling', () => {
  const config = parseConfigObject(
    {
      ...MINIMAL_CONFIG,
      listen: { peer: '[0:0:0:0:0:0:0:1]:4143', control: '[::FFFF:7F00:BE01]:9991', dns: '[0::1]:53' },
      services: [{ name: 'a', endpoints: ['[2001:DB8:0:0:1:0:0:1]:80', { address: '[::1]:81' }] }],
    },
    '/test/gateway.yaml',
  );
  assert.deepEqual(config.listen.peer, { host: '::1', port: 4143 });
  assert.deepEqual(config.advertise, { host: '::1', port: 4143 });
  assert.deepEqual(config.listen.control, { host: '::ffff:127.0.190.1', port: 9991 });
  assert.deepEqual(config.listen.dns, { host: '::1', port: 53 });
  assert.deepEqual(
    config.services[0]?.endpoints.map((e) => e.address),
    [
      { host: '2001:db8::1:0:0:1', port: 80 },
      { host: '::1', port: 81 },
    ],
  );
  // A zone id names an interface of one host: refused like any other malformed address.
  assert.deepEqual(configProblems({ advertise: '[::1%lo]:4143' }), [
    'advertise: "[::1%lo]:4143" is not host:port (e.g. 127.0.0.1:4140 or [::1]:4140)',
  ]);
});

test('the wildcard however it is written needs advertise', () => {
  for (const peer of [
    '0.0.0.0:4143',
    '[::]:4143',
    '[::0]:4143',
    '[0:0:0:0:0:0:0:0]:4143',
    '[::ffff:0.0.0.0]:4143',
  ]) {
    assert.deepEqual(
      configProblems({ listen: { peer } }),
      ['advertise: listen.peer is a wildcard address; set advertise to the host:port other gateways dial'],
      peer,
    );
    assert.deepEqual(configProblems({ listen: { peer }, advertise: '[::1]:4143' }), [], peer);
  }
});

test('a tcp listen address bound twice is found in any spelling, and named with brackets', () => {
  const db = { services: [{ name: 'db', protocol: 'tcp', endpoints: ['[::1]:5432'] }] };
  assert.deepEqual(
    configProblems({
      ...db,
      tcp: [
        { listen: '[::1]:15432', service: 'db.default' },
        { listen: '[0::1]:15432', service: 'db.default' },
        { listen: '[0:0:0:0:0:0:0:1]:15433', service: 'db.default' },
        { listen: '[::1]:15433', service: 'db.default' },
      ],
    }),
    ['tcp[1].listen: [::1]:15432 is bound twice', 'tcp[3].listen: [::1]:15433 is bound twice'],
  );
});

test('an endpoint needs a port from 1 to 65535; listen addresses may take 0 (any free port)', () => {
  assert.deepEqual(
    configProblems({
      listen: { peer: '127.0.190.1:0', control: '[::1]:0' },
      services: [{ name: 'a', endpoints: ['[::1]:80', '[::1]:0', { address: '127.0.190.1:0', weight: 2 }] }],
    }),
    [
      'services[0].endpoints[1]: [::1]:0 has port 0: an endpoint needs a port from 1 to 65535',
      'services[0].endpoints[2]: 127.0.190.1:0 has port 0: an endpoint needs a port from 1 to 65535',
    ],
  );
});
