// The gateway's DNS publisher survives whatever its Redis connection reports: ioredis emits some errors
// (a reply no command waits for) straight to 'error', which without a listener is an uncaught exception
// that ends the gateway. It is logged instead.
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { parseConfigObject } from '../gateway/config/index.js';
import { FabricDnsPublisher } from '../gateway/dns-publishing.js';
import { StaticFabricView } from './helpers/static-fabric-view.js';
import { waitFor } from './helpers/wait.js';

test(
  'a Redis reply no command waits for is logged by the DNS publisher, not thrown',
  { timeout: 20_000 },
  async () => {
    // Answers the ready check (INFO), then sends one reply nobody asked for.
    const redis = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.once('data', () => {
        socket.write('$0\r\n\r\n');
        setTimeout(() => socket.write('+OK\r\n'), 100);
      });
    });
    redis.listen(0, '127.0.9.11');
    await once(redis, 'listening');
    const { port } = redis.address() as AddressInfo;
    const config = parseConfigObject(
      {
        cluster: 'a',
        locality: { cloud: 'c', region: 'r' },
        trustDomain: 'weft.test',
        redis: `redis://127.0.9.11:${port}`,
        tls: { ca: 'ca.pem', cert: 'gw.pem', key: 'gw.key' },
        listen: { peer: '127.0.9.12:0' },
        dns: {
          provider: {
            rfc2136: {
              server: '127.0.9.11:9',
              zone: 'example.test',
              tsig: { name: 'k', algorithm: 'hmac-sha256', secret: Buffer.alloc(32).toString('base64') },
            },
          },
          records: [{ name: 'api.example.test', targets: [{ cluster: 'a', addresses: ['192.0.2.1'] }] }],
        },
      },
      '/nonexistent/gateway.yaml',
    );
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const dns = config.dns;
    assert.ok(dns);
    const publisher = new FabricDnsPublisher({
      dns,
      redis: config.redis,
      view: new StaticFabricView(),
      instanceId: 'a/gw',
      logger: pino({ level: 'warn' }, sink),
    });
    try {
      await publisher.start();
      await waitFor(
        'the stray reply to be logged',
        () => lines.some((l) => /Redis connection error/.test(l)),
        10_000,
      );
    } finally {
      await publisher.close();
      redis.close();
    }
  },
);
