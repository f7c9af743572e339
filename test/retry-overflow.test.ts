// A retry the circuit breaker refuses is not made, and the caller hears the failed try's own answer
// (Envoy counts it as upstream_rq_retry_overflow and returns the original response), not 503 OVERLOADED
// for a cluster the request never reached. Cluster a calls `spare`, served by b (same region, tried
// first, answers 503) and c (held). a's breaker allows one request in flight per destination and none
// waiting; a request pinned to c holds c's only slot, so the retry of a request that failed at b finds
// c's breaker full.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { FailoverFabric } from './helpers/failover-fabric.js';
import { httpCall, type HttpAnswer } from './helpers/http-call.js';
import { waitFor, within } from './helpers/wait.js';
import { listenOnLoopback } from './helpers/listen-address.js';

const HOST_A = '127.0.61.1';
const HOST_B = '127.0.62.1';
const HOST_C = '127.0.63.1';
let fabric: FailoverFabric;
/** b's endpoint: 503 to everything. */
let failing: Server;
/** c's endpoint: holds every request until the test ends. */
let holding: Server;
const held: ServerResponse[] = [];

before(async () => {
  failing = createServer((_req, res) => {
    res.statusCode = 503;
    res.end('b is down');
  });
  holding = createServer((_req, res) => void held.push(res));
  const spare = (endpoint: string) => [{ name: 'spare', protocol: 'http', endpoints: [endpoint] }];
  fabric = await FailoverFabric.start(
    [
      { name: 'a', host: HOST_A, cloud: 'aws', region: 'us-east-1', instances: 0 },
      {
        name: 'b',
        host: HOST_B,
        cloud: 'aws',
        region: 'us-east-1',
        instances: 0,
        services: spare(await listenOnLoopback(failing, HOST_B)),
      },
      {
        name: 'c',
        host: HOST_C,
        cloud: 'gcp',
        region: 'europe-west1',
        instances: 0,
        services: spare(await listenOnLoopback(holding, HOST_C)),
      },
    ],
    { circuitBreaker: { maxConcurrent: 1, maxPending: 0 } },
  );
});

after(async () => {
  for (const res of held) res.end();
  await fabric?.close();
  failing?.close();
  holding?.closeAllConnections();
  holding?.close();
});

function call(host: string): Promise<HttpAnswer> {
  const { outbound } = fabric.gateway('a');
  return httpCall(`http://${outbound.host}:${outbound.port}/`, { headers: { host } });
}

test('a retry refused by a full circuit breaker answers the failed try’s 503, not OVERLOADED', async () => {
  await within('a routes to b', 15_000, async () => {
    const answer = await call('b.spare.default.svc.clusterset.local');
    return answer.body.toString() === 'b is down' ? true : undefined;
  });
  // One pinned request at a time (c's breaker takes one): a request answered before it reaches c (a not
  // routing there yet) is sent again; one that is slow to get there is waited for.
  const { pinned } = await within('c holds a request pinned to it', 15_000, async () => {
    const attempt = call('c.spare.default.svc.clusterset.local');
    let answered = false;
    attempt.then(
      () => (answered = true),
      () => (answered = true),
    );
    await waitFor('c to hold the request, or a to answer it', () => answered || held.length > 0, 15_000);
    return held.length > 0 ? { pinned: attempt } : undefined;
  });

  const refusals = () =>
    fabric.metric('a', 'weft_requests_refused_total', {
      service: 'spare.default',
      cluster: 'c',
      by: 'circuit-breaker',
    });
  const refusedBefore = await refusals();
  const answer = await call('spare');
  assert.equal(answer.status, 503);
  assert.equal(answer.body.toString(), 'b is down', `answer: ${answer.body.toString()}`);
  assert.equal((await refusals()) - refusedBefore, 1);

  assert.equal(held.length, 1);
  for (const res of held.splice(0)) res.end('c answered');
  assert.equal((await pinned).status, 200);
});
