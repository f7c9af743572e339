// An endpoint that answers before it has read the request body (401, 413: it has seen enough) ends the
// exchange for the gateways too. Cluster a calls `early`, a service only in cluster b whose endpoint
// answers 413 as soon as a request's head arrives; the uploads are large (streamed as one HTTP/2 stream
// each between the gateways). The caller gets the 413, and the streams between the gateways close:
// a stream whose answer is complete is not left open waiting for the rest of a body nobody sends.
// An HTTP/1.1 caller still sending when its answer is complete (the service's 413, or the gateway's own
// 404) gets the answer, then a FIN, and what it still sends is read and dropped (a lingering close):
// no reset that could make its kernel drop the answer unread; a caller that then goes quiet is closed.
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

const HOST_A = '127.0.93.1';
const HOST_B = '127.0.93.2';
let fabric: FailoverFabric;
let early: Server;

before(async () => {
  // Keep-alive: Node's server then reads and drops the rest of the body. (With Connection: close it
  // would close with unread bytes, and the kernel's reset can beat the 413 to whoever is sending.)
  early = createServer((_req, res) => {
    res.writeHead(413).end('too large');
  });
  early.listen(0, HOST_B);
  await once(early, 'listening');
  const { port } = early.address() as { port: number };
  fabric = await FailoverFabric.start(callerAndServer(HOST_A, HOST_B, 'early', `${HOST_B}:${port}`), {});
});

after(async () => {
  await fabric?.close();
  early?.closeAllConnections();
  early?.close();
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

for (const { name, status } of [
  { name: 'early', status: 413 },
  { name: 'no-such-service', status: 404 },
]) {
  test(`an HTTP/1.1 upload answered ${status} before its end: the answer, a FIN, and the rest read, no reset`, async (t) => {
    await within('a routes early to b', 10_000, async () => {
      const { host, port } = fabric.gateway('a').outbound;
      const answer = await httpCall(`http://${host}:${port}/`, { headers: { host: 'early' } });
      return answer.status === 413 ? true : undefined;
    });
    const body = 32 * 1024 * 1024;
    const upload = await startUpload(name, body);
    t.after(() => upload.socket.destroy());
    await send(upload, 1024 * 1024);
    const endedAfterMs = await upload.ended;
    assert.match(upload.got(), new RegExp(`^HTTP/1.1 ${status} `));
    // The rest of the declared body still goes out, and is taken: the connection lingers.
    await send(upload, body - 1024 * 1024);
    await new Promise<void>((resolve) => upload.socket.end(resolve));
    await once(upload.socket, 'close');
    assert.equal(upload.error(), undefined, `no reset (the FIN came ${endedAfterMs} ms in)`);
  });
}

test('a caller that goes quiet after an early answer without closing is closed within the linger time', async (t) => {
  const upload = await startUpload('no-such-service', 1024 * 1024);
  t.after(() => upload.socket.destroy());
  await upload.ended;
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
  console.log(`a quiet caller was closed ${waitedMs} ms after its answer (linger 5000 ms)`);
  assert.ok(waitedMs >= 4_000, `closed after ${waitedMs} ms: the caller had no time to read its answer`);
});
