// An endpoint that answers before it has read the request body (401, 413: it has seen enough) ends the
// exchange for the gateways too. Cluster a calls `early`, a service only in cluster b whose endpoint
// answers 413 as soon as a request's head arrives; the uploads are large (streamed as one HTTP/2 stream
// each between the gateways). The caller gets the 413, and the streams between the gateways close:
// a stream whose answer is complete is not left open waiting for the rest of a body nobody sends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, constants, type IncomingHttpHeaders } from 'node:http2';
import { callerAndServer, FailoverFabric } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { patternBytes } from './helpers/sample-upstreams.js';
import { within } from './helpers/wait.js';

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
