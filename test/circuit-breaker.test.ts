// Circuit breaking on the request path, with a real gateway process: with `maxConcurrent: 1, maxPending: 1`
// for a service, one request is in flight, the next waits for its slot and is served when the first
// finishes, and the one after that is refused at once with 503 OVERLOADED. A retry that must wait for a
// slot still sends the whole of a streamed body, and one whose wait ends in a timeout is charged to no
// endpoint; an answer complete in its head frees its slot before the caller's next pipelined request
// asks for one; a long queue whose tries all fail at once drains without crashing the gateway. And the
// retry budget: a failing request with nowhere else to go spends none of it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import {
  connect as connectH2,
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { frame } from './helpers/h2-frames.js';
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
/** The two endpoints of `waits` hold every request until the test answers it. */
let waitEndpoints: Server[] = [];
const waiting: ServerResponse[] = [];
/** An h2c endpoint answering 204 with END_STREAM on the head: a complete answer in one frame. */
let noContent: Http2Server;
/** An h2c endpoint holding every stream unanswered. */
let silent: Http2Server;
const silentStreams: ServerHttp2Stream[] = [];
/** Accepts connections and never speaks HTTP/2: a gRPC endpoint whose connection attempt hangs. */
let mute: TcpServer;
const muteSockets: Socket[] = [];

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
  waitEndpoints = [0, 1].map(() => createServer((_req, res) => void waiting.push(res)));
  for (const server of [...uploadEndpoints, ...waitEndpoints]) {
    server.listen(0, HOST);
    await once(server, 'listening');
  }
  noContent = createH2Server();
  noContent.on('stream', (stream) => stream.respond({ ':status': 204 }, { endStream: true }));
  noContent.listen(0, HOST);
  await once(noContent, 'listening');
  silent = createH2Server();
  silent.on('stream', (stream) => silentStreams.push(stream));
  silent.listen(0, HOST);
  await once(silent, 'listening');
  // Says HTTP/2 SETTINGS, then nothing: the gateway's connection is up and its streams are never answered.
  mute = createTcpServer((socket) => {
    muteSockets.push(socket);
    socket.on('error', () => undefined);
    socket.resume();
    socket.write(frame(0x4, 0, 0, Buffer.alloc(0)));
  });
  mute.listen(0, HOST);
  await once(mute, 'listening');
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
          {
            name: 'waits',
            protocol: 'http',
            endpoints: waitEndpoints.map(
              (server) => `${HOST}:${(server.address() as { port: number }).port}`,
            ),
            circuitBreaker: { maxConcurrent: 1, maxPending: 1 },
            timeouts: { request: '1s' },
          },
          {
            name: 'empty',
            protocol: 'grpc',
            endpoints: [`${HOST}:${(noContent.address() as { port: number }).port}`],
            circuitBreaker: { maxConcurrent: 1, maxPending: 0 },
          },
          {
            name: 'silent',
            protocol: 'grpc',
            endpoints: [`${HOST}:${(silent.address() as { port: number }).port}`],
            circuitBreaker: { maxConcurrent: 1, maxPending: 0 },
          },
          {
            name: 'mute',
            protocol: 'grpc',
            endpoints: [`${HOST}:${(mute.address() as { port: number }).port}`],
            circuitBreaker: { maxConcurrent: 1, maxPending: 5000 },
          },
        ],
      }),
    ],
    // One local-origin failure ejects: a timeout charged to an endpoint would show at once.
    { outlierDetection: { consecutiveLocalOriginFailures: 1 } },
  );
});

after(async () => {
  for (const res of held) res.end('ok');
  for (const res of uploads.gets) res.end('ok');
  uploads.firstPut?.end();
  for (const res of waiting) res.end('ok');
  for (const server of [...uploadEndpoints, ...waitEndpoints]) server.closeAllConnections();
  for (const server of [...uploadEndpoints, ...waitEndpoints]) server.close();
  noContent?.close();
  for (const stream of silentStreams) stream.close();
  silent?.close();
  for (const socket of muteSockets) socket.destroy();
  mute?.close();
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

test('a gRPC call refused by the breaker is UNAVAILABLE, which gRPC clients may retry: it was never sent', async (t) => {
  const { host, port } = fabric.gateway('a').outbound;
  const session = connectH2(`http://${host}:${port}`);
  t.after(() => session.destroy());
  const call = () =>
    session.request({
      ':method': 'POST',
      ':path': '/echo.Echo/Unary',
      ':authority': 'silent',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
  const first = call();
  first.on('error', () => undefined);
  first.end(Buffer.alloc(5));
  await waitFor('the first call at the endpoint', () => silentStreams.length === 1, 10_000);
  const second = call();
  second.end(Buffer.alloc(5));
  const [head] = (await once(second, 'response')) as [IncomingHttpHeaders];
  assert.equal(head['grpc-status'], '14', JSON.stringify(head));
  assert.match(String(head['grpc-message']), /circuit breaker/);
  first.close();
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

test('a retry whose wait for a slot ends in the request timeout is charged to no endpoint', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const call = () => httpCall(`http://${host}:${port}/`, { headers: { host: 'waits' } });
  const pending = () =>
    fabric.metric('a', 'weft_circuit_breaker_requests', { service: 'waits.default', state: 'pending' });
  const ejections = () => fabric.metric('a', 'weft_outlier_ejections_total');
  const before = await ejections();
  const first = call();
  await waitFor('the first request at an endpoint', () => waiting.length === 1, 10_000);
  const second = call();
  await waitFor('the second request waiting for the slot', async () => (await pending()) === 1, 10_000);
  // The first try fails: the second request takes the slot, the first one's retry waits behind it
  // until its request timeout (1 s) answers 504.
  waiting.shift()?.writeHead(503).end('busy');
  const timedOut = await first;
  assert.equal(timedOut.status, 504, timedOut.body.toString());
  assert.equal(timedOut.headers['weft-error'], 'UPSTREAM_TIMEOUT');
  waiting.shift()?.end('ok');
  assert.equal((await second).status, 200);
  // The 503 counts once against its endpoint (5 in a row eject); the wait counts against nobody.
  assert.equal(await ejections(), before, 'no endpoint was ejected for time spent in the queue');
});

test('an answer complete in its head frees the slot before the next pipelined request asks', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const socket = connect({ host, port });
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  // Two requests in one write: the second is read as soon as the first is answered.
  socket.write('GET /one HTTP/1.1\r\nHost: empty\r\n\r\nGET /two HTTP/1.1\r\nHost: empty\r\n\r\n');
  await waitFor('two answers', () => received.split('HTTP/1.1 ').length - 1 === 2, 10_000);
  socket.destroy();
  const statuses = received
    .split('HTTP/1.1 ')
    .slice(1)
    .map((answer) => answer.slice(0, 3));
  assert.deepEqual(statuses, ['204', '204'], `answers:\n${received}`);
});

test(
  'a long queue whose tries all fail at once drains without crashing the gateway',
  { timeout: 120_000 },
  async () => {
    const { host, port } = fabric.gateway('a').outbound;
    const call = () =>
      httpCall(`http://${host}:${port}/`, { headers: { host: 'mute' } }).then(
        (answer) => answer.status,
        (err: Error) => err.message,
      );
    const pending = () =>
      fabric.metric('a', 'weft_circuit_breaker_requests', { service: 'mute.default', state: 'pending' });
    const first = call();
    // The first call holds the only slot until the request timeout (15 s), however long queueing takes.
    await waitFor('the first call connecting to the mute endpoint', () => muteSockets.length === 1, 10_000);
    const QUEUED = 3000;
    const rest: Promise<number | string>[] = [];
    for (let i = 0; i < QUEUED; i++) rest.push(call());
    await waitFor(`${QUEUED} calls waiting for the slot`, async () => (await pending()) === QUEUED, 60_000);
    // The connection fails and the endpoint refuses new ones: the pool backs off, so each waiter's try
    // fails at once when it gets the slot, and frees it for the next.
    mute.close();
    for (const socket of muteSockets) socket.destroy();
    const statuses = await Promise.all([first, ...rest]);
    const answered = statuses.filter((s) => s === 503 || s === 502).length;
    console.log(`mute endpoint: ${answered} of ${statuses.length} calls answered 502/503`);
    assert.equal(
      answered,
      statuses.length,
      `not answered: ${String(statuses.find((s) => s !== 503 && s !== 502))}`,
    );
    const health = await fetch(`${fabric.gateway('a').admin}/healthz`, { signal: AbortSignal.timeout(2000) });
    assert.equal(health.status, 200, 'the gateway is still up');
  },
);

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
