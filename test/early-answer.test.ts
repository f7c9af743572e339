// An endpoint that answers before it has read the request body (401, 413: it has seen enough) ends the
// exchange for the gateways too. Cluster a calls `early`, a service only in cluster b whose endpoint
// answers 413 as soon as a request's head arrives; the uploads are large (streamed as one HTTP/2 stream
// each between the gateways). The caller gets the 413, and the streams between the gateways close:
// a stream whose answer is complete is not left open waiting for the rest of a body nobody sends.
// An HTTP/1.1 caller still sending when its answer is complete: a service's answer, whose head promised
// keep-alive, has the rest of the body read and dropped, and the connection carries the next request;
// the gateway's own (a 404) says Connection: close, then a FIN, and what the caller still sends is read
// and dropped (a lingering close): no reset that could make its kernel drop the answer unread. A request
// sent after that answer is not processed, and a caller that goes quiet is closed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect, constants, type IncomingHttpHeaders } from 'node:http2';
import { callerAndServer, FailoverFabric } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { patternBytes } from './helpers/sample-upstreams.js';
import { tcpSockets } from './helpers/proc-net-tcp.js';
import { waitFor, within } from './helpers/wait.js';
import { listenOnLoopback } from './helpers/listen-address.js';

const HOST_A = '127.0.93.1';
const HOST_B = '127.0.93.2';
let fabric: FailoverFabric;
let early: Server;
let bodyless: Server;
/** The requests the endpoints received: method and path. */
const seen: string[] = [];

before(async () => {
  // Keep-alive: Node's server then reads and drops the rest of the body. (With Connection: close it
  // would close with unread bytes, and the kernel's reset can beat the 413 to whoever is sending.)
  early = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(413).end('too large');
  });
  // In the caller's own cluster, a 413 with no body: the answer is whole in its head.
  bodyless = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(413, { 'content-length': '0' }).end();
  });
  const [a, b] = callerAndServer(HOST_A, HOST_B, 'early', await listenOnLoopback(early, HOST_B));
  const local = {
    name: 'bodyless',
    protocol: 'http' as const,
    endpoints: [await listenOnLoopback(bodyless, HOST_A)],
  };
  fabric = await FailoverFabric.start([{ ...a!, services: [local] }, b!], {});
});

after(async () => {
  await fabric?.close();
  for (const server of [early, bodyless]) {
    server?.closeAllConnections();
    server?.close();
  }
});

interface PeerJson {
  readonly cluster: string;
  readonly streams: number;
  readonly lanes: { readonly open: number };
}

/** Gateway a's HTTP/2 streams to cluster b that are not lanes (those stay open by design). */
async function requestStreamsToB(): Promise<number> {
  const { peers } = await fabric.admin<{ peers: PeerJson[] | null }>('a', '/api/v1/endpoints');
  return (peers ?? []).filter((p) => p.cluster === 'b').reduce((n, p) => n + p.streams - p.lanes.open, 0);
}

test('an answer before the body ends the exchange: 413 reaches the caller, the peer streams close', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  await within('a routes early to b', 10_000, async () => {
    const answer = await httpCall(`http://${host}:${port}/`, { headers: { host: 'early' } });
    return answer.status === 413 ? true : undefined;
  });
  const body = patternBytes(2 * 1024 * 1024);
  for (let i = 0; i < 5; i++) {
    const answer = await httpCall(`http://${host}:${port}/`, {
      method: 'POST',
      headers: { host: 'early' },
      body,
    }).catch((err: Error) => ({ status: 0, body: Buffer.from(err.message) }));
    assert.equal(answer.status, 413, `upload ${i}: ${answer.status} ${answer.body.toString()}`);
  }
  await within('a keeps no request stream open to b', 10_000, async () =>
    (await requestStreamsToB()) === 0 ? true : undefined,
  );
});

test('an HTTP/2 caller answered before its body is sent can finish sending it: its stream closes', async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const session = connect(`http://${host}:${port}`);
  try {
    const request = session.request({ ':method': 'POST', ':path': '/', ':authority': 'early' });
    // More than the stream's flow-control window: the caller cannot send it all unless it is read.
    request.end(patternBytes(4 * 1024 * 1024));
    const [headers] = (await once(request, 'response')) as [IncomingHttpHeaders];
    assert.equal(headers[':status'], 413);
    request.resume();
    await within('the caller’s stream to close', 10_000, () => (request.closed ? true : undefined));
    assert.equal(request.rstCode, constants.NGHTTP2_NO_ERROR);
  } finally {
    session.destroy();
  }
});

interface EarlyUpload {
  readonly socket: Socket;
  /** Everything received, latin1. */
  got(): string;
  readonly ended: Promise<number>;
  /** The first socket error (a reset: EPIPE or ECONNRESET), if any. */
  error(): NodeJS.ErrnoException | undefined;
}

/** Starts a POST to `name` declaring `length` bytes, on a caller that keeps its side open after a FIN. */
async function startUpload(name: string, length: number): Promise<EarlyUpload> {
  const { host, port } = fabric.gateway('a').outbound;
  const socket = connectTcp({ host, port, allowHalfOpen: true });
  let failure: NodeJS.ErrnoException | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => (failure ??= err));
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const started = Date.now();
  const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now() - started)));
  socket.write(`POST / HTTP/1.1\r\nhost: ${name}\r\ncontent-length: ${length}\r\n\r\n`);
  return { socket, got: () => Buffer.concat(chunks).toString('latin1'), ended, error: () => failure };
}

/** Writes `bytes` more of the body, waiting for the gateway to take each chunk. */
async function send(upload: EarlyUpload, bytes: number): Promise<void> {
  const chunk = patternBytes(64 * 1024);
  for (let sent = 0; sent < bytes && !upload.socket.destroyed; sent += chunk.length) {
    if (!upload.socket.write(chunk)) await once(upload.socket, 'drain');
  }
}

/** Waits until gateway a routes `name` (its first answer has `status`). */
async function routed(name: string, status: number): Promise<void> {
  await within(`a routes ${name}`, 10_000, async () => {
    const { host, port } = fabric.gateway('a').outbound;
    const answer = await httpCall(`http://${host}:${port}/`, { headers: { host: name } });
    return answer.status === status ? true : undefined;
  });
}

for (const { name, by, whole } of [
  { name: 'early', by: 'a service in another cluster', whole: /too large(\r\n0\r\n\r\n)?$/ },
  { name: 'bodyless', by: 'a local endpoint, with no body', whole: /\r\n\r\n$/ },
]) {
  test(
    `an upload answered 413 before its end by ${by}: the rest is dropped, the connection carries on`,
    { timeout: 30_000 },
    async (t) => {
      await routed(name, 413);
      const body = 8 * 1024 * 1024;
      const upload = await startUpload(name, body);
      t.after(() => upload.socket.destroy());
      await send(upload, 1024 * 1024);
      await waitFor('the whole 413', () => whole.test(upload.got()), 10_000);
      assert.match(upload.got(), /^HTTP\/1.1 413 [^]*\r\nConnection: keep-alive\r\n/);
      await send(upload, body - 1024 * 1024);
      upload.socket.write(`GET /next HTTP/1.1\r\nhost: ${name}\r\n\r\n`);
      await waitFor(
        'the next request answered',
        () => upload.got().split('HTTP/1.1 413').length === 3,
        10_000,
      );
      assert.equal(upload.error(), undefined);
    },
  );
}

test('an upload the gateway answers 404 before its end: Connection: close, a FIN, the rest read, no reset', async (t) => {
  const body = 32 * 1024 * 1024;
  const upload = await startUpload('no-such-service', body);
  t.after(() => upload.socket.destroy());
  await send(upload, 1024 * 1024);
  const endedAfterMs = await upload.ended;
  assert.match(upload.got(), /^HTTP\/1.1 404 [^]*\r\nconnection: close\r\n/);
  // The rest of the declared body still goes out, and is taken: the connection lingers.
  await send(upload, body - 1024 * 1024);
  await new Promise<void>((resolve) => upload.socket.end(resolve));
  await once(upload.socket, 'close');
  assert.equal(upload.error(), undefined, `no reset (the FIN came ${endedAfterMs} ms in)`);
});

test('a request sent after an answer that closed the connection is not processed; a quiet caller is closed', async (t) => {
  const body = 64 * 1024;
  const upload = await startUpload('no-such-service', body);
  t.after(() => upload.socket.destroy());
  await upload.ended;
  await send(upload, body);
  upload.socket.write('DELETE /account HTTP/1.1\r\nhost: early\r\n\r\n');
  const quietSince = Date.now();
  const { port } = fabric.gateway('a').outbound;
  const gatewaySide = async () =>
    (await tcpSockets()).find((s) => s.localPort === port && s.remotePort === upload.socket.localPort);
  assert.notEqual((await gatewaySide())?.inode ?? 0, 0, 'the gateway holds the connection after the FIN');
  // Once closed, the gateway's side is the kernel's alone (inode 0) or gone.
  await waitFor(
    'the gateway to close the connection',
    async () => ((await gatewaySide())?.inode ?? 0) === 0,
    15_000,
  );
  const waitedMs = Date.now() - quietSince;
  console.log(`a quiet caller was closed ${waitedMs} ms after its last bytes (linger 5000 ms)`);
  assert.ok(waitedMs >= 4_000, `closed after ${waitedMs} ms: the caller had no time to read its answer`);
  assert.ok(!seen.includes('DELETE /account'), `the endpoint saw: ${seen.join(', ')}`);
  assert.equal(upload.got().split('HTTP/1.1 ').length, 2, 'one answer');
});

for (const { what, request, behind } of [
  {
    what: "the gateway's 404 to a request whose body came along",
    request: 'POST / HTTP/1.1\r\nhost: no-such-service\r\ncontent-length: 5\r\n\r\nhello',
    behind: 'DELETE /behind-404',
  },
  {
    what: 'a request that asked to close the connection',
    request: 'POST /first HTTP/1.1\r\nhost: bodyless\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello',
    behind: 'DELETE /behind-close',
  },
]) {
  test(`a request in the same read behind ${what} is not processed`, async (t) => {
    await routed('bodyless', 413);
    const { host, port } = fabric.gateway('a').outbound;
    const caller = connectTcp({ host, port });
    caller.on('error', () => undefined);
    t.after(() => caller.destroy());
    await once(caller, 'connect');
    let got = '';
    caller.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')));
    caller.write(`${request}${behind} HTTP/1.1\r\nhost: bodyless\r\n\r\n`);
    await once(caller, 'close');
    // A request sent after the connection closed reaches the endpoint after anything the gateway
    // passed on from that connection.
    await within('a later request to reach the endpoint', 10_000, async () => {
      await httpCall(`http://${host}:${port}/after`, { headers: { host: 'bodyless' } });
      return seen.includes('GET /after') ? true : undefined;
    });
    assert.ok(!seen.includes(behind), `the endpoint saw: ${seen.join(', ')}`);
    assert.equal(got.split('HTTP/1.1 ').length, 2, `one answer: ${got}`);
  });
}
