// A DNS publisher in its own process, so a test can SIGKILL a real leader. Options come as JSON in argv[2];
// health reports arrive as JSON lines on stdin; publisher events go out as JSON lines on stdout.
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { DnsPublisher, Rfc2136Provider, type ClusterHealth, type DnsRecordSpec } from '../../infra/index.js';

export interface PublisherChildOptions {
  readonly redisUrl: string;
  readonly dns: { readonly host: string; readonly port: number; readonly zone: string };
  readonly tsig: { readonly name: string; readonly secretBase64: string };
  readonly ownerId: string;
  readonly instanceId: string;
  readonly records: readonly DnsRecordSpec[];
  readonly intervalMs: number;
  readonly holdDownMs: number;
  readonly leaseTtlMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as PublisherChildOptions;
const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
const provider = new Rfc2136Provider({
  server: { host: options.dns.host, port: options.dns.port },
  zone: options.dns.zone,
  tsig: {
    name: options.tsig.name,
    algorithm: 'hmac-sha256',
    secret: Buffer.from(options.tsig.secretBase64, 'base64'),
  },
});
const publisher = new DnsPublisher({
  redis,
  provider,
  ownerId: options.ownerId,
  instanceId: options.instanceId,
  records: options.records,
  intervalMs: options.intervalMs,
  holdDownMs: options.holdDownMs,
  leaseTtlMs: options.leaseTtlMs,
});
publisher.subscribe((event) => {
  const line = event.type === 'error' ? { type: 'error', message: event.error.message } : event;
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);
});
publisher.start();
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim()) publisher.setHealth(JSON.parse(line) as ClusterHealth[]);
}
await publisher.close();
redis.disconnect();
