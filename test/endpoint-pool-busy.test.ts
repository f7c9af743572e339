// Long-lived calls holding every connection a gateway may open to an endpoint: a request that waits for
// one past its request timeout is answered 503 OVERLOADED naming the endpoint — it was never sent, and
// the endpoint is busy, not failing, so outlier detection does not count it — not 504 "no response from
// the service". The pool's cap is set to 2 here; the default is 1024 per endpoint.
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
const feed = eventStreamEndpoint(held);

describe('every connection to an endpoint held by long-lived calls', () => {
  let fabric: TestFabric;
  let endpoint: string;
  const watches: ClientRequest[] = [];

  before(async () => {
    endpoint = await endpointOn(feed, '127.0.1.99');
    fabric = await TestFabric.start(
      [
        {
          cluster: 'a',
          host: '127.0.1.1',
          services: [{ name: 'feed', endpoints: [endpoint] }],
          failover: { timeouts: { request: '400ms' } },
        },
      ],
      { localUpstreams: { maxConnectionsPerEndpoint: 2 } },
    );
  });

  after(async () => {
    for (const watch of watches) watch.destroy();
    for (const res of held.splice(0)) res.end();
    await fabric?.close();
    feed.close();
  });

  const outbound = (path: string) => `http://127.0.1.1:${fabric.gateway('a').outboundPort}${path}`;

  test('a request that waited out its timeout for a connection gets 503 OVERLOADED, and the endpoint stays in use', async () => {
    for (let i = 0; i < 2; i++) {
      const req = request(outbound('/watch'), { headers: { host: 'feed' }, agent: false });
      watches.push(req);
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      await once(res, 'data');
    }
    for (let i = 0; i < 6; i++) {
      const answer = await httpCall(outbound('/ping'), { headers: { host: 'feed' } });
      assert.equal(answer.status, 503, answer.body.toString());
      assert.equal(answer.headers['weft-error'], 'OVERLOADED');
      assert.match(
        answer.body.toString(),
        new RegExp(`no connection to ${endpoint} \\(service feed\\.default\\) came free`),
      );
    }
    for (const res of held.splice(0)) res.end();
    const answer = await httpCall(outbound('/ping'), { headers: { host: 'feed' } });
    assert.equal(answer.status, 200, 'not ejected: six waits for a busy endpoint are not its failures');
    assert.equal(answer.body.toString(), 'pong');
  });
});

describe('a per-try timeout while every connection to an endpoint is held', () => {
  let fabric: TestFabric;
  const watches: ClientRequest[] = [];
  const slowFeed = eventStreamEndpoint(held);

  before(async () => {
    const endpoint = await endpointOn(slowFeed, '127.0.1.100');
    fabric = await TestFabric.start(
      [
        {
          cluster: 'a',
          host: '127.0.1.1',
          services: [{ name: 'feed', endpoints: [endpoint] }],
          failover: { timeouts: { request: '5s', perTry: '300ms' } },
        },
      ],
      { localUpstreams: { maxConnectionsPerEndpoint: 2 } },
    );
  });

  after(async () => {
    for (const watch of watches) watch.destroy();
    for (const res of held.splice(0)) res.end();
    await fabric?.close();
    slowFeed.close();
  });

  test('is answered 503 OVERLOADED and never counts against the endpoint', async () => {
    const gateway = fabric.gateway('a');
    const outbound = (path: string) => `http://127.0.1.1:${gateway.outboundPort}${path}`;
    for (let i = 0; i < 2; i++) {
      const req = request(outbound('/watch'), { headers: { host: 'feed' }, agent: false });
      watches.push(req);
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      await once(res, 'data');
    }
    for (let i = 0; i < 6; i++) {
      const answer = await httpCall(outbound('/ping'), { headers: { host: 'feed' } });
      assert.equal(answer.status, 503, answer.body.toString());
      assert.equal(answer.headers['weft-error'], 'OVERLOADED');
      assert.match(answer.body.toString(), /came free within 300 ms \(per-try timeout\)/);
    }
    assert.deepEqual(
      gateway.outcomes.filter((o) => o.kind === 'local-origin'),
      [],
      'waiting for a connection is not the endpoint’s failure',
    );
    for (const res of held.splice(0)) res.end();
    const answer = await httpCall(outbound('/ping'), { headers: { host: 'feed' } });
    assert.equal(answer.status, 200);
  });
});

describe('an endpoint with no room for another request, beside one with room', () => {
  let fabric: TestFabric;
  const watches: ClientRequest[] = [];
  const fullFeed = eventStreamEndpoint(held);
  const roomy = createServer((_req, res) => res.end('pong'));
  let full: string;

  before(async () => {
    full = await endpointOn(fullFeed, '127.0.1.101');
    const other = await endpointOn(roomy, '127.0.1.102');
    fabric = await TestFabric.start(
      [{ cluster: 'a', host: '127.0.1.1', services: [{ name: 'feed', endpoints: [full, other] }] }],
      { localUpstreams: { maxConnectionsPerEndpoint: 1, maxQueuedPerEndpoint: 0 } },
    );
  });

  after(async () => {
    for (const watch of watches) watch.destroy();
    for (const res of held.splice(0)) res.end();
    await fabric?.close();
    fullFeed.close();
    roomy.close();
  });

  test('a request the full pool refuses is sent to the other endpoint, and counts against neither', async () => {
    const gateway = fabric.gateway('a');
    const outbound = (path: string) => `http://127.0.1.1:${gateway.outboundPort}${path}`;
    // Round robin: one of the first two watches lands on the feed and holds its only connection.
    while (held.length === 0) {
      const req = request(outbound('/watch'), { headers: { host: 'feed' }, agent: false });
      watches.push(req);
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      await once(res, 'data');
    }
    for (let i = 0; i < 6; i++) {
      const answer = await httpCall(outbound('/ping'), { method: 'POST', headers: { host: 'feed' } });
      assert.equal(answer.status, 200, answer.body.toString());
    }
    assert.ok(
      gateway.outcomes.every((o) => o.kind === 'success'),
      JSON.stringify(gateway.outcomes.filter((o) => o.kind !== 'success')),
    );
  });
});
