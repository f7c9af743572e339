// Local rate limits per service, with a real gateway process: a burst over hello's limit gets exactly
// `burst` answers and 429 with Retry-After for the rest, on every HTTP path (the HTTP/1.1 fast path,
// Node's parser for a request with a body, h2c); a limited gRPC service answers RESOURCE_EXHAUSTED naming
// the service and the limit; a service without a limit is untouched; refusals are counted in the
// metrics; a config reload applies a changed limit and keeps the unchanged ones.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { httpCall, type HttpAnswer } from './helpers/http-call.js';
import { rawExchange } from './helpers/raw-exchange.js';
import {
  echoClientConstructor,
  startGrpcUpstream,
  startHttpUpstream,
  type SampleServer,
} from './helpers/sample-upstreams.js';

const HOST = '127.0.51.1';
/** One token every 10 s: nothing refills while a test runs. */
const SLOW = 0.1;
let fabric: FailoverFabric;
let other: SampleServer;
let echo: SampleServer;
let echoClient: grpc.Client & {
  Unary(
    request: { text: string },
    callback: (err: grpc.ServiceError | null, reply?: { text: string }) => void,
  ): grpc.ClientUnaryCall;
};

before(async () => {
  other = await startHttpUpstream(HOST, 'other@a');
  echo = await startGrpcUpstream(HOST, 'echo@a');
  fabric = await FailoverFabric.start(
    [
      singleCluster(HOST, {
        hello: { rateLimit: { requestsPerSecond: SLOW, burst: 5 } },
        services: [
          { name: 'other', protocol: 'http', endpoints: [other.endpoint] },
          {
            name: 'tunnel',
            protocol: 'http',
            endpoints: [other.endpoint],
            rateLimit: { requestsPerSecond: SLOW, burst: 1 },
          },
          {
            name: 'echo',
            protocol: 'grpc',
            endpoints: [echo.endpoint],
            rateLimit: { requestsPerSecond: SLOW, burst: 2 },
          },
        ],
      }),
    ],
    {},
  );
  const { port } = fabric.gateway('a').outbound;
  const Echo = echoClientConstructor();
  echoClient = new Echo(`${HOST}:${port}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': 'echo.default',
  }) as unknown as typeof echoClient;
});

after(async () => {
  echoClient?.close();
  await fabric?.close();
  await other?.close();
  await echo?.close();
});

function outboundUrl(path = '/'): string {
  const { host, port } = fabric.gateway('a').outbound;
  return `http://${host}:${port}${path}`;
}

/** `count` GETs at once, each on its own connection (the HTTP/1.1 fast path). */
function burst(service: string, count: number): Promise<HttpAnswer[]> {
  return Promise.all(
    Array.from({ length: count }, () => httpCall(outboundUrl('/whoami'), { headers: { host: service } })),
  );
}

function assertRateLimited(answer: HttpAnswer, what: string): number {
  assert.equal(answer.status, 429, `${what}: ${answer.status} ${answer.body.toString()}`);
  assert.equal(answer.headers['weft-error'], 'RATE_LIMITED');
  const retryAfter = Number(answer.headers['retry-after']);
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 1 / SLOW,
    `${what}: Retry-After ${answer.headers['retry-after']}`,
  );
  assert.match(answer.body.toString(), /hello\.default .*0\.1 requests\/s \(burst \d+\)/);
  return retryAfter;
}

function h2Get(authority: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const session = connect(outboundUrl());
    session.on('error', reject);
    const stream = session.request({ ':path': '/whoami', ':authority': authority });
    stream.on('response', (headers) => {
      stream.resume();
      stream.on('end', () => {
        session.close();
        resolve({ status: Number(headers[':status']), headers });
      });
    });
    stream.on('error', reject);
    stream.end();
  });
}

function unary(): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => echoClient.Unary({ text: 'hi' }, (err) => resolve(err)));
}

test('a burst over the limit: exactly `burst` answered, the rest 429 with Retry-After; other services untouched', async () => {
  const startedAt = performance.now();
  const [hello, others] = await Promise.all([burst('hello.default', 20), burst('other.default', 20)]);
  const burstMs = performance.now() - startedAt;
  const ok = hello.filter((a) => a.status === 200);
  const limited = hello.filter((a) => a.status !== 200);
  assert.equal(ok.length, 5, `answered: ${hello.map((a) => a.status).join(',')}`);
  const retryAfter = limited.map((a, i) => assertRateLimited(a, `burst request ${i}`));
  assert.equal(limited.length, 15);
  assert.deepEqual(
    others.map((a) => a.status),
    Array.from({ length: 20 }, () => 200),
    'a service without a limit is untouched',
  );
  // Node's parser (a request with a body) and h2c answer the same way.
  assertRateLimited(
    await httpCall(outboundUrl(), {
      method: 'POST',
      headers: { host: 'hello.default' },
      body: Buffer.from('payload'),
    }),
    'POST with a body',
  );
  const h2 = await h2Get('hello.default');
  assert.equal(h2.status, 429);
  assert.equal(h2.headers['retry-after'], String(retryAfter[0]));
  const refused = await fabric.metric('a', 'weft_requests_refused_total', {
    service: 'hello.default',
    by: 'rate-limit',
  });
  const counted429 = await fabric.metric('a', 'weft_requests_total', {
    destination_service: 'hello.default',
    code: '429',
  });
  const other429 = await fabric.metric('a', 'weft_requests_total', {
    destination_service: 'other.default',
    code: '429',
  });
  console.log(
    `rate limit (${SLOW}/s, burst 5): 20 GETs in ${burstMs.toFixed(0)} ms → ${ok.length} answered, ${limited.length} × 429 (Retry-After ${[...new Set(retryAfter)].join('/')} s); metrics: refused ${refused}, 429 counted ${counted429}`,
  );
  assert.equal(refused, 17);
  assert.equal(counted429, 17);
  assert.equal(other429, 0);
  assert.equal(fabric.instances.get('a')?.[0]?.received, 5, 'refused requests never reached hello');
});

test('an upgrade (WebSocket) is a request of its service: over the limit it gets 429 with Retry-After', async () => {
  const { port } = fabric.gateway('a').outbound;
  const upgrade =
    'GET /chat HTTP/1.1\r\nHost: tunnel.default\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
  const first = await rawExchange(port, HOST, upgrade);
  assert.doesNotMatch(first.got, /^HTTP\/1\.1 429 /, 'the first takes the one token');
  const second = await rawExchange(port, HOST, upgrade);
  assert.match(second.got, /^HTTP\/1\.1 429 /, second.got);
  assert.match(second.got, /\r\nweft-error: RATE_LIMITED\r\n/i);
  assert.match(second.got, /\r\nretry-after: \d+\r\n/i);
});

test('a limited gRPC service answers RESOURCE_EXHAUSTED naming the service and the limit', async () => {
  const results = await Promise.all(Array.from({ length: 6 }, () => unary()));
  const refused = results.filter((err): err is grpc.ServiceError => err !== null);
  assert.equal(results.length - refused.length, 2, 'burst 2: two calls answered');
  assert.equal(refused.length, 4);
  for (const err of refused) {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /echo\.default .*0\.1 requests\/s \(burst 2\)/);
    assert.equal(err.metadata.get('weft-error')[0], 'RATE_LIMITED');
  }
  console.log(
    `gRPC rate limit (burst 2): 6 calls → 2 answered, 4 × RESOURCE_EXHAUSTED: ${refused[0]?.details}`,
  );
});

test('a config reload applies a changed limit and keeps the unchanged ones', async () => {
  await fabric.reconfigure('a', (config) => {
    const hello = config.services.find((s) => s.name === 'hello');
    assert.ok(hello);
    hello.rateLimit = { requestsPerSecond: SLOW, burst: 12 };
  });
  const raised = await burst('hello.default', 20);
  assert.equal(raised.filter((a) => a.status === 200).length, 12, 'the new burst applies at once');
  raised.filter((a) => a.status !== 200).forEach((a, i) => assertRateLimited(a, `after reload ${i}`));
  const echoErr = await unary();
  assert.equal(echoErr?.code, grpc.status.RESOURCE_EXHAUSTED, "echo's unchanged limiter kept its state");

  await fabric.reconfigure('a', (config) => {
    const hello = config.services.find((s) => s.name === 'hello');
    delete hello?.rateLimit;
  });
  const unlimited = await burst('hello.default', 20);
  assert.equal(unlimited.filter((a) => a.status === 200).length, 20, 'no limit after it was removed');
  console.log('reload: burst 5 → 12 applied (12 of 20 answered); limit removed → 20 of 20 answered');
});
