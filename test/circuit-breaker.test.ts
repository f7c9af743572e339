// Circuit breaking on the request path, with a real gateway process: with `maxConcurrent: 1, maxPending: 1`
// for a service, one request is in flight, the next waits for its slot and is served when the first
// finishes, and the one after that is refused at once with 503 OVERLOADED. A retry that must wait for a
// slot still sends the whole of a streamed body. And the retry budget: a failing request with nowhere
// else to go spends none of it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { patternBytes, sha256 } from './helpers/sample-upstreams.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.52.1';
let fabric: FailoverFabric;
let upstream: Server;
/** Answers every request 503. */
let failing: Server;
/** Answers held by the upstream until the test lets them go. */
const held: ServerResponse[] = [];
let holding = true;
/**
 * The two endpoints of `upload`, one handler: the first PUT either sees is held (the test answers it 503),
 * a GET is held until the test lets it go, and any later PUT is answered with its body's SHA-256.
 */
let uploadEndpoints: Server[] = [];
const uploads: { firstPut?: ServerResponse; gets: ServerResponse[] } = { gets: [] };

function uploadHandler(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET') {
    uploads.gets.push(res);
    return;
  }
  if (!uploads.firstPut) {
    uploads.firstPut = res;
    return;
  }
  const hash = createHash('sha256');
  req.on('data', (chunk: Buffer) => hash.update(chunk));
  req.on('end', () => res.writeHead(200, { 'x-body-sha256': hash.digest('hex') }).end());
}

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
  uploadEndpoints = [createServer(uploadHandler), createServer(uploadHandler)];
  for (const server of uploadEndpoints) {
    server.listen(0, HOST);
    await once(server, 'listening');
  }
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
          {
            name: 'upload',
            protocol: 'http',
            endpoints: uploadEndpoints.map(
              (server) => `${HOST}:${(server.address() as { port: number }).port}`,
            ),
            circuitBreaker: { maxConcurrent: 1, maxPending: 1 },
          },
        ],
      }),
    ],
    {},
  );
});

after(async () => {
  for (const res of held) res.end('ok');
  for (const res of uploads.gets) res.end('ok');
  uploads.firstPut?.end();
  for (const server of uploadEndpoints) server.closeAllConnections();
  for (const server of uploadEndpoints) server.close();
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

test('a failed try frees its slot before its retry asks for one, and the waiting retry sends the whole streamed body', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const url = `http://${host}:${port}/`;
  const pending = () =>
    fabric.metric('a', 'weft_circuit_breaker_requests', { service: 'upload.default', state: 'pending' });
  const sent = patternBytes(256 * 1024);
  // A chunked PUT (no Content-Length): kept while it streams, the first 8 KiB sent now.
  const body = new PassThrough();
  body.write(sent.subarray(0, 8192));
  const upload = httpCall(url, { method: 'PUT', headers: { host: 'upload' }, body });
  await waitFor('the first try at an endpoint', () => uploads.firstPut !== undefined, 10_000);
  const get = httpCall(url, { headers: { host: 'upload' } });
  await waitFor('the GET waiting for the only slot', async () => (await pending()) === 1, 10_000);
  // The first try fails: the waiting GET takes the slot, and the retry waits behind it.
  uploads.firstPut?.writeHead(503).end('try elsewhere');
  await waitFor(
    'the GET at an endpoint and the retry waiting for the slot',
    async () => uploads.gets.length === 1 && (await pending()) === 1,
    10_000,
  );
  // The rest of the body (248 KiB, far past the 64 KiB a retry may replay) while the retry waits.
  body.end(sent.subarray(8192));
  uploads.gets.shift()?.end('ok');
  const [put, got] = await Promise.all([upload, get]);
  assert.equal(got.status, 200);
  assert.equal(put.status, 200, `the retried PUT: ${put.status} ${put.body.toString()}`);
  assert.equal(put.headers['x-body-sha256'], sha256(sent), 'the retry sent every byte, in order');
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
