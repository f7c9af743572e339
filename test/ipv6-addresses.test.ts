// IPv6 addresses past the config: messages and keys write them in brackets ("[::1]:80", never "::1:80"),
// and AAAA values read back from a real zone (BIND9) compare equal to the configured ones however either
// side spells them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { describeRedis } from '../discovery/index.js';
import { parseConfigObject } from '../gateway/config/index.js';
import type { GatewayError } from '../gateway/errors.js';
import { newHeaderMap, type ProxyRequest } from '../gateway/upstream/exchange.js';
import { LocalUpstreams, LOCAL_UPSTREAM_DEFAULTS } from '../gateway/upstream/local-upstreams.js';
import { Rfc2136Provider, type InfraError } from '../infra/index.js';
import { BindServer } from './helpers/bind-server.js';
import { MINIMAL_CONFIG } from './helpers/gateway-config.js';
import { within } from './helpers/wait.js';

const GET: ProxyRequest = {
  method: 'GET',
  path: '/',
  authority: 'hello',
  headers: newHeaderMap(),
  bodyLength: 0,
  body: null,
  grpc: false,
};

async function listenOnV6(onConnection: (socket: Socket) => void = () => {}): Promise<Server> {
  const server = createServer(onConnection);
  server.listen(0, '::1');
  await once(server, 'listening');
  return server;
}

/** A port on ::1 that nothing listens on (it was bound a moment ago). */
async function closedV6Port(): Promise<number> {
  const server = await listenOnV6();
  const { port } = server.address() as AddressInfo;
  await new Promise((resolveClose) => server.close(resolveClose));
  return port;
}

test('local upstreams name an IPv6 endpoint in brackets in errors and stats', async (t) => {
  const upstreams = new LocalUpstreams({ ...LOCAL_UPSTREAM_DEFAULTS, connectTimeoutMs: 2_000 });
  t.after(() => upstreams.destroy());
  const port = await closedV6Port();
  let failure: GatewayError | undefined;
  upstreams.dispatch('http', { host: '::1', port, weight: 1 }, GET, {
    head: () => assert.fail('no answer expected'),
    data: () => true,
    onDrain: () => {},
    end: () => assert.fail('no answer expected'),
    fail: (err) => (failure = err),
  });
  const err = await within('the dispatch to fail', 5_000, () => failure);
  assert.equal(err.code, 'UPSTREAM_CONNECT');
  assert.ok(err.message.includes(`[::1]:${port}`), err.message);
  assert.deepEqual(
    upstreams.stats().map((s) => s.endpoint),
    [`[::1]:${port}`],
  );
  // The catalog's keys (as data-plane.ts writes them, with formatHostPort) keep the pool.
  upstreams.retain(new Set([`[::1]:${port}`]));
  assert.equal(upstreams.stats().length, 1);
  upstreams.retain(new Set());
  assert.equal(upstreams.stats().length, 0);
});

test('Redis topologies name IPv6 nodes in brackets', () => {
  assert.equal(
    describeRedis({
      mode: 'cluster',
      nodes: [
        { host: '::1', port: 7000 },
        { host: '127.0.190.1', port: 7001 },
      ],
    }),
    'cluster via [::1]:7000,127.0.190.1:7001',
  );
  assert.equal(
    describeRedis({ mode: 'sentinel', name: 'main', sentinels: [{ host: '::1', port: 26379 }], db: 0 }),
    'sentinel main via [::1]:26379',
  );
});

test('RFC 2136 errors name an IPv6 server in brackets', async (t) => {
  // Answers every message with a header whose id is not the query's.
  const server = await listenOnV6((socket) => {
    socket.once('data', (frame: Buffer) => {
      const answer = Buffer.alloc(14);
      answer.writeUInt16BE(12, 0);
      answer.writeUInt16BE((frame.readUInt16BE(2) + 1) & 0xffff, 2);
      socket.end(answer);
    });
  });
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const provider = new Rfc2136Provider({
    server: { host: '::1', port },
    zone: 'example.test',
    tsig: { name: 'weft-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 1) },
  });
  const key = { name: 'api.example.test', type: 'AAAA' } as const;
  await assert.rejects(provider.readRecords([key]), (err: InfraError) => {
    assert.equal(err.message, `DNS server [::1]:${port} sent a mismatched answer`);
    return true;
  });
  await assert.rejects(provider.readRecords([key], AbortSignal.abort()), (err: InfraError) => {
    assert.equal(err.message, `DNS request to [::1]:${port} aborted`);
    return true;
  });
});

test('AAAA values read back from a zone equal the configured ones, however either is written', async (t) => {
  // As the zone file writes them; dns-packet decodes these two as 1::1:0:0:0:1 and ::ffff:7f00:be01.
  const bind = await BindServer.start({
    records: ['v6 60 IN AAAA 1:0:0:1:0:0:0:1', 'v6 60 IN AAAA ::ffff:127.0.190.1', 'v6 60 IN AAAA ::1'],
  });
  t.after(() => bind.stop());
  const config = parseConfigObject(
    {
      ...MINIMAL_CONFIG,
      dns: {
        provider: {
          rfc2136: {
            server: `${bind.host}:${bind.port}`,
            zone: bind.zone,
            tsig: { name: bind.keyName, secret: bind.secret.toString('base64') },
          },
        },
        records: [
          {
            name: `v6.${bind.zone}`,
            type: 'AAAA',
            targets: [
              { cluster: 'aws-use1', addresses: ['0:0:0:0:0:0:0:1', '1:0:0:1::1', '::FFFF:7F00:BE01'] },
            ],
          },
        ],
      },
    },
    '/test/gateway.yaml',
  );
  const configured = config.dns?.records[0]?.targets[0]?.addresses ?? [];
  const provider = new Rfc2136Provider({
    server: { host: bind.host, port: bind.port },
    zone: bind.zone,
    tsig: bind.tsig,
  });
  const [read] = await provider.readRecords([{ name: `v6.${bind.zone}`, type: 'AAAA' }]);
  assert.deepEqual(read?.values, [...configured].sort());
  assert.deepEqual(read?.values, ['1:0:0:1::1', '::1', '::ffff:127.0.190.1']);
});
