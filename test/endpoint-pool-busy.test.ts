// Long-lived calls holding every connection a gateway may open to an endpoint: a request that waits for
// one past its request timeout is answered 503 OVERLOADED naming the endpoint — it was never sent, and
// the endpoint is busy, not failing, so outlier detection does not count it — not 504 "no response from
// the service"; so is a try that spends its per-try timeout waiting; and a request the full pool has no
// room for goes to another endpoint with room. The pool's cap is set low here; the default is 1024
// connections per endpoint.
import { once } from 'node:events';
import {
  createServer,
  request,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { endpointOn } from './helpers/near-far-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { eventStreamEndpoint } from './helpers/sample-upstreams.js';

const held: ServerResponse[] = [];
const watches: ClientRequest[] = [];

/** A call to `feed` through gateway a's outbound listener. */
const ping = (fabric: TestFabric, method = 'GET') =>
  httpCall(`http://127.0.1.1:${fabric.gateway('a').outboundPort}/ping`, {
    method,
    headers: { host: 'feed' },
  });

/** A long-lived call to `feed`, open once its first event arrived; an event-stream endpoint holds it. */
async function openWatch(fabric: TestFabric): Promise<void> {
  const url = `http://127.0.1.1:${fabric.gateway('a').outboundPort}/watch`;
  const req = request(url, { headers: { host: 'feed' }, agent: false });
  watches.push(req);
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  await once(res, 'data');
}

function endWatches(): void {
  for (const watch of watches.splice(0)) watch.destroy();
  for (const res of held.splice(0)) res.end();
}

/** Gateway a serving `feed` from `endpoints`, with at most `maxConnections` connections to each. */
function startFabric(
  endpoints: string[],
  maxConnections: number,
  extra: { timeouts?: { request: string; perTry?: string }; maxQueued?: number } = {},
): Promise<TestFabric> {
  return TestFabric.start(
    [
      {
        cluster: 'a',
        host: '127.0.1.1',
        services: [{ name: 'feed', endpoints }],
        ...(extra.timeouts ? { failover: { timeouts: extra.timeouts } } : {}),
      },
    ],
    {
      localUpstreams: {
        maxConnectionsPerEndpoint: maxConnections,
        ...(extra.maxQueued === undefined ? {} : { maxQueuedPerEndpoint: extra.maxQueued }),
      },
    },
  );
}

describe('every connection to an endpoint held by long-lived calls', () => {
  let fabric: TestFabric;
  let endpoint: string;
  const feed = eventStreamEndpoint(held);

  before(async () => {
    endpoint = await endpointOn(feed, '127.0.1.99');
    fabric = await startFabric([endpoint], 2, { timeouts: { request: '400ms' } });
  });

  after(async () => {
    endWatches();
    await fabric?.close();
    feed.close();
  });

  test('a request that waited out its timeout for a connection gets 503 OVERLOADED, and the endpoint stays in use', async () => {
    for (let i = 0; i < 2; i++) await openWatch(fabric);
    for (let i = 0; i < 6; i++) {
      const answer = await ping(fabric);
      assert.equal(answer.status, 503, answer.body.toString());
      assert.equal(answer.headers['weft-error'], 'OVERLOADED');
      assert.match(
        answer.body.toString(),
        new RegExp(`no connection to ${endpoint} \\(service feed\\.default\\) came free`),
      );
    }
    endWatches();
    const answer = await ping(fabric);
    assert.equal(answer.status, 200, 'not ejected: six waits for a busy endpoint are not its failures');
    assert.equal(answer.body.toString(), 'pong');
  });
});

describe('a per-try timeout while every connection to an endpoint is held', () => {
  let fabric: TestFabric;
  const feed = eventStreamEndpoint(held);

  before(async () => {
    const endpoint = await endpointOn(feed, '127.0.1.100');
    fabric = await startFabric([endpoint], 2, { timeouts: { request: '5s', perTry: '300ms' } });
  });

  after(async () => {
    endWatches();
    await fabric?.close();
    feed.close();
  });

  test('is answered 503 OVERLOADED and never counts against the endpoint', async () => {
    for (let i = 0; i < 2; i++) await openWatch(fabric);
    for (let i = 0; i < 6; i++) {
      const answer = await ping(fabric);
      assert.equal(answer.status, 503, answer.body.toString());
      assert.equal(answer.headers['weft-error'], 'OVERLOADED');
      assert.match(answer.body.toString(), /came free within 300 ms \(per-try timeout\)/);
    }
    assert.deepEqual(
      fabric.gateway('a').outcomes.filter((o) => o.kind === 'local-origin'),
      [],
      'waiting for a connection is not the endpoint’s failure',
    );
    endWatches();
    assert.equal((await ping(fabric)).status, 200);
  });
});

describe('an endpoint with no room for another request, beside one with room', () => {
  let fabric: TestFabric;
  const feed = eventStreamEndpoint(held);
  const roomy = createServer((_req, res) => res.end('pong'));

  before(async () => {
    const full = await endpointOn(feed, '127.0.1.101');
    const other = await endpointOn(roomy, '127.0.1.102');
    fabric = await startFabric([full, other], 1, { maxQueued: 0 });
  });

  after(async () => {
    endWatches();
    await fabric?.close();
    feed.close();
    roomy.close();
  });

  test('a request the full pool refuses is sent to the other endpoint, and counts against neither', async () => {
    // Round robin: one of the first two watches lands on the feed and holds its only connection.
    while (held.length === 0) await openWatch(fabric);
    for (let i = 0; i < 6; i++) {
      const answer = await ping(fabric, 'POST');
      assert.equal(answer.status, 200, answer.body.toString());
    }
    const outcomes = fabric.gateway('a').outcomes;
    assert.ok(
      outcomes.every((o) => o.kind === 'success'),
      JSON.stringify(outcomes.filter((o) => o.kind !== 'success')),
    );
  });
});
