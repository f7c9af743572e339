// gRPC servers report failures in a trailers-only answer (HTTP 200, grpc-status in the head) or in the
// trailers, never as HTTP 5xx. With a real gateway process and two @grpc/grpc-js endpoints of one
// service, one of which answers every Unary call UNAVAILABLE: with `retries.on: [unavailable]` and
// `nonIdempotent` the calls are retried on the good endpoint and all succeed; without retries the
// failing endpoint is ejected by outlier detection (consecutive5xx: 3) like an HTTP endpoint answering 503.
// A call the service itself refuses (FAILED_PRECONDITION) is an answer, not a failure: no retry, no ejection.
// A call from another cluster whose try sent nothing (connection refused) is retried by the receiving
// gateway on its other endpoint, outside its local rate limit, and the endpoint learns the calling
// cluster; once a try reached an endpoint, retrying is the calling gateway's decision, and the answer
// (UNAVAILABLE on a lane) counts against that endpoint in the receiving gateway's outlier detection. The
// calling gateway retries such an answer in the next cluster, replaying the call's body over a lane.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { FailoverFabric } from './helpers/failover-fabric.js';
import { echoClientConstructor, startGrpcUpstream, type SampleServer } from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';
import { freePort } from '../gateway/demo/free-port.js';

const HOST = '127.0.93.1';

let fabric: FailoverFabric;
let good: SampleServer;
let failing: grpc.Server;
let failingEndpoint = '';
let failingCalls = 0;
/** A port nothing listens on: connections are refused. */
let deadEndpoint = '';

/** An Echo server whose Unary is always UNAVAILABLE (grpc-js sends it trailers-only). */
async function startUnavailableUpstream(): Promise<void> {
  failing = new grpc.Server();
  failing.addService(echoClientConstructor().service, {
    Unary: (_call: unknown, done: grpc.sendUnaryData<unknown>) => {
      failingCalls++;
      done({ code: grpc.status.UNAVAILABLE, details: 'shutting down' });
    },
    Fail: (_call: unknown, done: grpc.sendUnaryData<unknown>) => {
      done({ code: grpc.status.FAILED_PRECONDITION, details: 'refused' });
    },
    Chat: (call: grpc.ServerDuplexStream<{ text: string }, { text: string }>) => {
      call.on('data', (request: { text: string }) => call.write({ text: request.text }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    failing.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  failingEndpoint = `${HOST}:${port}`;
}

before(async () => {
  good = await startGrpcUpstream(HOST, 'good');
  await startUnavailableUpstream();
  deadEndpoint = `${HOST}:${await freePort(HOST)}`;
  const service = (name: string, extra: object) => ({
    name,
    protocol: 'grpc',
    endpoints: [failingEndpoint, good.endpoint],
    ...extra,
  });
  fabric = await FailoverFabric.start(
    [
      {
        name: 'a',
        host: HOST,
        cloud: 'aws',
        region: 'us-east-1',
        instances: 0,
        services: [
          service('retried', { retries: { attempts: 2, on: ['unavailable'], nonIdempotent: true } }),
          service('ejected', { retries: { attempts: 0 } }),
          service('answers', { retries: { attempts: 2, on: ['unavailable', '5xx'], nonIdempotent: true } }),
        ],
      },
      {
        name: 'b',
        host: '127.0.93.2',
        cloud: 'gcp',
        region: 'us-east1',
        instances: 0,
        services: [
          {
            name: 'remote',
            protocol: 'grpc',
            endpoints: [deadEndpoint, good.endpoint],
            rateLimit: { requestsPerSecond: 0.1, burst: 1 },
          },
          {
            name: 'broken',
            protocol: 'grpc',
            endpoints: [failingEndpoint],
            retries: { attempts: 2, on: ['unavailable'], nonIdempotent: true },
          },
          { name: 'spread', protocol: 'grpc', endpoints: [failingEndpoint] },
        ],
      },
      {
        name: 'c',
        host: '127.0.93.3',
        cloud: 'azure',
        region: 'westeurope',
        instances: 0,
        services: [{ name: 'spread', protocol: 'grpc', endpoints: [good.endpoint] }],
      },
    ],
    {
      // spread: b first, c behind it; a retries its UNAVAILABLE answers there.
      priorities: { b: 0, c: 1 },
      retries: { attempts: 2, on: ['unavailable'], nonIdempotent: true },
      outlierDetection: { consecutive5xx: 3, failurePercentage: { threshold: 0 }, maxEjectionPercent: 50 },
    },
  );
});

after(async () => {
  await fabric?.close();
  await good?.close();
  failing?.forceShutdown();
});

type UnaryCallback = (err: grpc.ServiceError | null, reply?: { sourceCluster: string }) => void;
type EchoClient = grpc.Client & {
  Chat(): grpc.ClientDuplexStream<{ text: string }, { text: string }>;
  Unary(request: { text: string }, callback: UnaryCallback): grpc.ClientUnaryCall;
  Fail(request: { text: string }, callback: UnaryCallback): grpc.ClientUnaryCall;
};

function client(service: string): EchoClient {
  const { host, port } = fabric.gateway('a').outbound;
  const Echo = echoClientConstructor();
  return new Echo(`${host}:${port}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': service,
  }) as unknown as EchoClient;
}

function unary(
  echo: EchoClient,
  method: 'Unary' | 'Fail' = 'Unary',
): Promise<{ code: grpc.status; source?: string }> {
  return new Promise((resolve) => {
    echo[method]({ text: 'hi' }, (err, reply) =>
      resolve(err ? { code: err.code } : { code: grpc.status.OK, source: reply?.sourceCluster ?? '' }),
    );
  });
}

test(
  'UNAVAILABLE in a trailers-only answer is retried on the other endpoint',
  { timeout: 60_000 },
  async () => {
    const echo = client('retried');
    try {
      const before = failingCalls;
      const results = [];
      for (let i = 0; i < 20; i++) results.push(await unary(echo));
      const retries = await fabric.metric('a', 'weft_retries_total', { service: 'retried.default' });
      console.log(
        `20 calls: ${results.filter((r) => r.code === grpc.status.OK).length} OK; the failing endpoint got ${failingCalls - before}; ${retries} retries`,
      );
      assert.deepEqual(
        results.map((r) => r.code),
        Array.from({ length: 20 }, () => grpc.status.OK),
      );
      assert.ok(failingCalls - before > 0, 'the failing endpoint was tried');
      assert.equal(retries, failingCalls - before, 'each UNAVAILABLE was retried once');
    } finally {
      echo.close();
    }
  },
);

test('an endpoint answering UNAVAILABLE is ejected like one answering 503', { timeout: 60_000 }, async () => {
  const echo = client('ejected');
  try {
    const route = async () => {
      const body = await fabric.admin<{ routes: { service: string; local: string[] }[] }>(
        'a',
        '/api/v1/routes',
      );
      return body.routes.find((r) => r.service === 'ejected.default')?.local ?? [];
    };
    let unavailable = 0;
    await waitFor(
      'the failing endpoint to be ejected',
      async () => {
        if ((await unary(echo)).code === grpc.status.UNAVAILABLE) unavailable++;
        return !(await route()).includes(failingEndpoint);
      },
      20_000,
    );
    const ejections = await fabric.metric('a', 'weft_outlier_ejections_total', {
      scope: 'endpoint',
      group: 'ejected.default',
      reason: 'consecutive-5xx',
    });
    console.log(
      `ejected after ${unavailable} UNAVAILABLE answers reached the caller; ${ejections} ejection(s)`,
    );
    assert.equal(ejections, 1);
    for (let i = 0; i < 5; i++) assert.equal((await unary(echo)).code, grpc.status.OK);
  } finally {
    echo.close();
  }
});

test(
  'a call the service refuses (FAILED_PRECONDITION) is an answer: not retried, nothing ejected',
  {
    timeout: 60_000,
  },
  async () => {
    const echo = client('answers');
    try {
      for (let i = 0; i < 6; i++)
        assert.equal((await unary(echo, 'Fail')).code, grpc.status.FAILED_PRECONDITION);
      assert.equal(await fabric.metric('a', 'weft_retries_total', { service: 'answers.default' }), 0);
      assert.equal(
        await fabric.metric('a', 'weft_outlier_ejections_total', {
          scope: 'endpoint',
          group: 'answers.default',
        }),
        0,
      );
    } finally {
      echo.close();
    }
  },
);

test(
  'a streaming call whose body is kept for a retry still flows message by message',
  { timeout: 60_000 },
  async () => {
    const echo = client('retried');
    try {
      const chat = echo.Chat();
      const replies: string[] = [];
      for (const text of ['one', 'two', 'three']) {
        chat.write({ text });
        const reply = await new Promise<{ text: string }>((resolve, reject) => {
          chat.once('data', resolve);
          chat.once('error', reject);
        });
        replies.push(reply.text);
      }
      chat.end();
      await new Promise((resolve) => chat.on('status', resolve));
      assert.deepEqual(replies, ['one', 'two', 'three']);
    } finally {
      echo.close();
    }
  },
);

test(
  'a call from another cluster: the receiving gateway retries a try that sent nothing on its other endpoint',
  { timeout: 60_000 },
  async () => {
    const echo = client('remote');
    try {
      await waitFor(
        'a to learn that b serves remote',
        async () => (await unary(echo)).code === grpc.status.OK,
        20_000,
      );
      const results = [];
      for (let i = 0; i < 20; i++) results.push(await unary(echo));
      const retries = await fabric.metric('b', 'weft_retries_total', { service: 'remote.default' });
      const limited = await fabric.metric('b', 'weft_requests_refused_total', { by: 'rate-limit' });
      console.log(
        `20 calls a → b: ${results.filter((r) => r.code === grpc.status.OK).length} OK; b retried ${retries}; b's rate limit refused ${limited}`,
      );
      assert.deepEqual(
        results.map((r) => r.code),
        Array.from({ length: 20 }, () => grpc.status.OK),
      );
      assert.ok(retries > 0, 'b retried the refused connections on its good endpoint');
      assert.equal(limited, 0, "b's local rate limit is for its own apps, not for calls from a");
      assert.ok(
        results.every((r) => r.source === 'a'),
        'the endpoint is told the call came from a',
      );
    } finally {
      echo.close();
    }
  },
);

test(
  'a call from another cluster that reached an endpoint is not retried there; its UNAVAILABLE counts against the endpoint',
  { timeout: 60_000 },
  async () => {
    const echo = client('broken');
    try {
      await waitFor(
        'a to learn that b serves broken',
        async () => (await unary(echo)).code !== grpc.status.NOT_FOUND,
        20_000,
      );
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await unary(echo)).code);
      const retries = await fabric.metric('b', 'weft_retries_total', { service: 'broken.default' });
      const ejections = await fabric.metric('b', 'weft_outlier_ejections_total', {
        scope: 'endpoint',
        group: 'broken.default',
      });
      console.log(`5 calls a → b (broken): b retried ${retries}, ejected ${ejections}`);
      assert.deepEqual(codes, [14, 14, 14, 14]);
      assert.equal(retries, 0, 'the calling gateway decides about retries of calls that reached an endpoint');
      assert.ok(ejections >= 1, "b's outlier detection saw the UNAVAILABLE answers on the lane");
    } finally {
      echo.close();
    }
  },
);

test(
  'a call another cluster answers UNAVAILABLE is retried in the next one, its body replayed over a lane',
  { timeout: 60_000 },
  async () => {
    const echo = client('spread');
    try {
      await waitFor(
        'a to route spread to b first, c behind it',
        async () => {
          const { routes } = await fabric.admin<{
            routes: { service: string; failover: { cluster: string }[] }[];
          }>('a', '/api/v1/routes');
          const order = routes.find((r) => r.service === 'spread.default')?.failover.map((f) => f.cluster);
          return order?.join() === 'b,c';
        },
        20_000,
      );
      const before = failingCalls;
      const codes = [];
      for (let i = 0; i < 20; i++) codes.push((await unary(echo)).code);
      const retries = await fabric.metric('a', 'weft_retries_total', { service: 'spread.default' });
      console.log(
        `20 calls a → b, then c: b answered ${failingCalls - before} UNAVAILABLE, a retried ${retries}`,
      );
      assert.deepEqual(
        codes,
        Array.from({ length: 20 }, () => grpc.status.OK),
      );
      assert.ok(
        failingCalls - before > 0 && retries === failingCalls - before,
        'each UNAVAILABLE from b was retried in c',
      );
    } finally {
      echo.close();
    }
  },
);
