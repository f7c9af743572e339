// Circuit breaking on the request path, with a real gateway process: with `maxConcurrent: 1, maxPending: 1`
// for a service, one request is in flight, the next waits for its slot and is served when the first
// finishes, and the one after that is refused at once with 503 OVERLOADED. And the retry budget: a
// failing request with nowhere else to go spends none of it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.52.1';
let fabric: FailoverFabric;
let upstream: Server;
/** Answers every request 503. */
let failing: Server;
/** Answers held by the upstream until the test lets them go. */
const held: ServerResponse[] = [];
let holding = true;

before(async () => {
  upstream = createServer((_req, res) => {
    if (holding) held.push(res);
    else res.end('ok');
  });
  upstream.listen(0, HOST);
  await once(upstream, 'listening');
  failing = createServer((_req, res) => {
    res.statusCode = 503;
    res.end('down');
  });
  failing.listen(0, HOST);
  await once(failing, 'listening');
  const failingPort = (failing.address() as { port: number }).port;
  const { port } = upstream.address() as { port: number };
  fabric = await FailoverFabric.start(
    [
      singleCluster(HOST, {
        services: [
          {
            name: 'slow',
            protocol: 'http',
            endpoints: [`${HOST}:${port}`],
            circuitBreaker: { maxConcurrent: 1, maxPending: 1 },
          },
          { name: 'failing', protocol: 'http', endpoints: [`${HOST}:${failingPort}`] },
        ],
      }),
    ],
    {},
  );
});

after(async () => {
  for (const res of held) res.end('ok');
  await fabric?.close();
  upstream?.close();
  failing?.close();
});

test('one in flight, one waiting for the slot, the next refused with 503 OVERLOADED (not the endpoint’s fault)', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const call = () => httpCall(`http://${host}:${port}/`, { headers: { host: 'slow' } });
  const first = call();
  await waitFor('the first request at the upstream', () => held.length === 1, 10_000);
  const second = call();
  const pending = () => fabric.metric('a', 'weft_circuit_breaker_requests', { state: 'pending' });
  await waitFor('the second request waiting for a slot', async () => (await pending()) === 1, 10_000);
  const third = await call();
  assert.equal(third.status, 503);
  assert.equal(third.headers['weft-error'], 'OVERLOADED');
  // More refusals than consecutive5xx (5): the gateway's own limit, not the endpoint's failure.
  for (let i = 0; i < 6; i++) assert.equal((await call()).headers['weft-error'], 'OVERLOADED');
  assert.equal(await fabric.metric('a', 'weft_outlier_ejections_total'), 0, 'refusals eject nothing');
  assert.equal(held.length, 1, 'the waiting request did not reach the upstream');
  holding = false;
  held.shift()?.end('ok');
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual([a.status, b.status], [200, 200]);
  assert.equal(b.body.toString(), 'ok');
});

test('a failing request with nowhere else to retry spends no retry budget', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const remaining = () => fabric.metric('a', 'weft_retry_budget_remaining', { service: 'failing.default' });
  const call = () => httpCall(`http://${host}:${port}/`, { headers: { host: 'failing' } });
  assert.equal((await call()).status, 503);
  const before = await remaining();
  for (let i = 0; i < 5; i++) assert.equal((await call()).status, 503);
  const after = await remaining();
  assert.ok(after >= before, `budget went from ${before} to ${after} with no retry possible`);
});
