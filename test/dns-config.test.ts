// The `dns:` config section: defaults and normalization (durations → …Ms, priorities, paths), and a
// table of bad inputs, each rejected with the path and a message saying what to fix.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigObject } from '../gateway/config/index.js';
import { validateRecordSpecs } from '../infra/index.js';
import { MINIMAL_CONFIG as BASE } from './helpers/gateway-config.js';

const RFC2136 = {
  rfc2136: { server: '127.0.0.1:5353', zone: 'example.test', tsig: { name: 'weft-key', secret: 'c2VjcmV0' } },
};

const RECORD = {
  name: 'api.example.test',
  targets: [
    { cluster: 'aws-use1', addresses: ['127.0.1.10'] },
    { cluster: 'gcp-euw1', addresses: ['127.0.2.10', '127.0.2.11'], weight: 70 },
  ],
};

const withDns = (dns: unknown) => ({ ...BASE, dns });

function problemsOf(dns: unknown): string[] {
  try {
    parseConfigObject(withDns(dns), '/etc/weft/gateway.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('dns config', () => {
  it('is optional', () => {
    assert.equal(parseConfigObject(BASE, '/etc/weft/gateway.yaml').dns, undefined);
  });

  it('fills every default and normalizes durations, priorities and paths', () => {
    const config = parseConfigObject(
      withDns({
        provider: {
          rfc2136: { ...RFC2136.rfc2136, tsig: { name: 'weft-key', secretFile: 'keys/weft.b64' } },
        },
        records: [RECORD],
      }),
      '/etc/weft/gateway.yaml',
    );
    assert.deepEqual(config.dns, {
      provider: {
        kind: 'rfc2136',
        server: { host: '127.0.0.1', port: 5353 },
        zone: 'example.test',
        tsig: { name: 'weft-key', algorithm: 'hmac-sha256', secretFile: '/etc/weft/keys/weft.b64' },
        timeoutMs: 5000,
      },
      zone: 'example.test',
      ownerId: 'weft',
      intervalMs: 5000,
      holdDownMs: 30_000,
      leaseTtlMs: 10_000,
      resyncIntervalMs: 60_000,
      records: [
        {
          name: 'api.example.test',
          type: 'A',
          ttl: 30,
          routing: 'failover',
          targets: [
            { cluster: 'aws-use1', addresses: ['127.0.1.10'], priority: 1, weight: 1 },
            { cluster: 'gcp-euw1', addresses: ['127.0.2.10', '127.0.2.11'], priority: 2, weight: 70 },
          ],
        },
      ],
    });
    assert.ok(Object.isFrozen(config.dns?.records[0]?.targets));
  });

  it('takes healthChecks: true as the default health checks, the same as {}', () => {
    const provider = (healthChecks: unknown) =>
      parseConfigObject(
        withDns({
          provider: { route53: { hostedZoneId: 'Z0123456789ABC', zone: 'example.com', healthChecks } },
          records: [{ ...RECORD, name: 'api.example.com' }],
        }),
        '/etc/weft/gateway.yaml',
      ).dns?.provider;
    const defaults = provider({});
    assert.deepEqual(provider(true), defaults);
    assert.equal((defaults as { healthChecks?: { port?: number } }).healthChecks?.port, 443);
  });

  it('takes a Route 53 provider with health checks', () => {
    const config = parseConfigObject(
      withDns({
        provider: {
          route53: {
            hostedZoneId: 'Z0123456789ABC',
            zone: 'example.com',
            endpoint: 'http://127.0.0.1:4566',
            healthChecks: { requestInterval: '10s' },
            waitForSync: true,
          },
        },
        ownerId: 'fabric-1',
        interval: '2s',
        holdDown: '45s',
        records: [{ ...RECORD, name: 'api.example.com', routing: 'weighted' }],
      }),
      '/etc/weft/gateway.yaml',
    );
    assert.deepEqual(config.dns?.provider, {
      kind: 'route53',
      hostedZoneId: 'Z0123456789ABC',
      zone: 'example.com',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:4566',
      healthChecks: {
        type: 'HTTPS',
        port: 443,
        path: '/healthz',
        requestIntervalSeconds: 10,
        failureThreshold: 3,
      },
      waitForSync: true,
      syncTimeoutMs: 120_000,
      maxRequestsPerSecond: 5,
    });
    assert.equal(config.dns?.intervalMs, 2000);
    assert.equal(config.dns?.holdDownMs, 45_000);
  });

  const rejected: [string, unknown, RegExp][] = [
    ['no provider', { records: [RECORD] }, /dns\.provider: /],
    ['two providers', { provider: { ...RFC2136, route53: {} }, records: [RECORD] }, /dns\.provider/],
    ['no records', { provider: RFC2136, records: [] }, /dns\.records: list at least one record/],
    ['unknown key', { provider: RFC2136, records: [RECORD], ttl: 5 }, /dns: Unrecognized key: "ttl"/],
    [
      'bad server',
      { provider: { rfc2136: { ...RFC2136.rfc2136, server: 'localhost' } }, records: [RECORD] },
      /dns\.provider\.rfc2136\.server: "localhost" is not host:port/,
    ],
    [
      'secret and secretFile',
      {
        provider: {
          rfc2136: { ...RFC2136.rfc2136, tsig: { name: 'k', secret: 'c2VjcmV0', secretFile: 'f' } },
        },
        records: [RECORD],
      },
      /dns\.provider\.rfc2136\.tsig: set exactly one of secret/,
    ],
    [
      'secret not base64',
      {
        provider: { rfc2136: { ...RFC2136.rfc2136, tsig: { name: 'k', secret: 'not base64!' } } },
        records: [RECORD],
      },
      /tsig\.secret: secret must be base64/,
    ],
    [
      'unknown algorithm',
      {
        provider: {
          rfc2136: { ...RFC2136.rfc2136, tsig: { name: 'k', secret: 'c2VjcmV0', algorithm: 'hmac-md5' } },
        },
        records: [RECORD],
      },
      /tsig\.algorithm/,
    ],
    [
      'bad hosted zone id',
      { provider: { route53: { hostedZoneId: 'zone 1', zone: 'example.test' } }, records: [RECORD] },
      /hostedZoneId looks like Z0123456789ABC/,
    ],
    [
      'health check interval',
      {
        provider: {
          route53: { hostedZoneId: 'Z1', zone: 'example.test', healthChecks: { requestInterval: '20s' } },
        },
        records: [RECORD],
      },
      /requestInterval: Route 53 checks every 10s or 30s/,
    ],
    [
      'bad interval',
      { provider: RFC2136, interval: 'soon', records: [RECORD] },
      /dns\.interval: "soon" is not a duration/,
    ],
    [
      'short lease',
      { provider: RFC2136, leaseTtl: '200ms', records: [RECORD] },
      /dns\.leaseTtl: must be at least 1s/,
    ],
    [
      'bad owner',
      { provider: RFC2136, ownerId: 'Fabric One', records: [RECORD] },
      /dns\.ownerId: ownerId must be a DNS label/,
    ],
    [
      'name outside the zone',
      { provider: RFC2136, records: [{ ...RECORD, name: 'api.example.org' }] },
      /dns\.records\[0\]\.name: api\.example\.org is outside the provider's zone example\.test/,
    ],
    [
      'upper-case name',
      { provider: RFC2136, records: [{ ...RECORD, name: 'API.example.test' }] },
      /dns\.records\[0\]\.name: name must be a lower-case DNS name/,
    ],
    [
      'IPv6 in an A record',
      { provider: RFC2136, records: [{ ...RECORD, targets: [{ cluster: 'aws-use1', addresses: ['::1'] }] }] },
      /dns\.records\[0\]\.targets\[0\]\.addresses\[0\]: "::1" is not an IPv4 address/,
    ],
    [
      'not an address',
      {
        provider: RFC2136,
        records: [{ ...RECORD, type: 'AAAA', targets: [{ cluster: 'a', addresses: ['gw.local'] }] }],
      },
      /"gw\.local" is not an IPv6 address/,
    ],
    [
      'no addresses',
      { provider: RFC2136, records: [{ ...RECORD, targets: [{ cluster: 'aws-use1', addresses: [] }] }] },
      /targets\[0\]\.addresses: list the cluster’s public ingress addresses/,
    ],
    [
      'cluster twice',
      {
        provider: RFC2136,
        records: [{ ...RECORD, targets: [RECORD.targets[0], RECORD.targets[0]] }],
      },
      /dns\.records\[0\]\.targets\[1\]\.cluster: aws-use1 is listed twice/,
    ],
    [
      'record twice',
      { provider: RFC2136, records: [RECORD, RECORD] },
      /dns\.records\[1\]: api\.example\.test A is listed twice/,
    ],
    [
      'weight out of range',
      {
        provider: RFC2136,
        records: [{ ...RECORD, targets: [{ cluster: 'a', addresses: ['127.0.0.1'], weight: 300 }] }],
      },
      /weight/,
    ],
    ['unknown routing', { provider: RFC2136, records: [{ ...RECORD, routing: 'latency' }] }, /routing/],
    ['CNAME', { provider: RFC2136, records: [{ ...RECORD, type: 'CNAME' }] }, /records\[0\]\.type/],
  ];
  it('keeps A and AAAA values canonical (RFC 5952), as they read back from the zone', () => {
    const config = parseConfigObject(
      withDns({
        provider: RFC2136,
        records: [
          {
            name: 'v6.example.test',
            type: 'AAAA',
            targets: [
              { cluster: 'aws-use1', addresses: ['0:0:0:0:0:0:0:1', '::FFFF:7F00:BE01', '2001:DB8::1'] },
              { cluster: 'gcp-euw1', addresses: ['1:0:0:1:0:0:0:1'] },
            ],
          },
          { name: 'v4.example.test', targets: [{ cluster: 'aws-use1', addresses: ['127.0.190.1'] }] },
        ],
      }),
      '/etc/weft/gateway.yaml',
    );
    assert.deepEqual(
      config.dns?.records.map((r) => r.targets.map((t) => t.addresses)),
      [[['::1', '::ffff:127.0.190.1', '2001:db8::1'], ['1:0:0:1::1']], [['127.0.190.1']]],
    );
  });

  it('rejects an AAAA value with a zone id, naming the field', () => {
    const record = {
      ...RECORD,
      type: 'AAAA',
      targets: [{ cluster: 'aws-use1', addresses: ['::1', '::1%lo'] }],
    };
    assert.deepEqual(problemsOf({ provider: RFC2136, records: [record] }), [
      'dns.records[0].targets[0].addresses[1]: "::1%lo" has a zone id (%…): a DNS record holds an address without one',
    ]);
  });

  for (const [what, dns, expected] of rejected) {
    it(`rejects ${what}`, () => {
      const problems = problemsOf(dns);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `expected ${expected} among:\n${problems.join('\n')}`,
      );
    });
  }
});

describe('the publisher checks what it is given itself (a caller other than the config)', () => {
  const spec = (type: 'A' | 'AAAA', address: string) => ({
    name: 'api.example.test',
    type,
    ttl: 60,
    routing: 'failover' as const,
    targets: [{ cluster: 'aws-use1', addresses: [address], weight: 1, priority: 0 }],
  });
  for (const [type, address, expected] of [
    ['AAAA', 'fe80::1%eth0', /"fe80::1%eth0" is not an IPv6 address/],
    ['AAAA', '127.0.1.10', /"127\.0\.1\.10" is not an IPv6 address/],
    ['A', '::1', /"::1" is not an IPv4 address/],
    ['A', '127.0.1.10%lo', /"127\.0\.1\.10%lo" is not an IPv4 address/],
  ] as const) {
    it(`refuses ${address} in an ${type} record`, () => {
      assert.throws(() => validateRecordSpecs([spec(type, address)], 'example.test', 'weft'), expected);
    });
  }
  it('takes addresses in any spelling of their family', () => {
    validateRecordSpecs(
      [spec('AAAA', '2001:DB8:0:0:0:0:0:1'), spec('A', '127.0.1.10')].map((s, i) => ({
        ...s,
        name: `api${i}.example.test`,
      })),
      'example.test',
      'weft',
    );
  });
});
