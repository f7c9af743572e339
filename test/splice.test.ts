// splice() on its own: a side that closed before the splice began (a reset while the far side was
// being set up) tears the other side down and still reports done, instead of leaving it open; a side
// whose sender had already finished (a client that connected and shut down its write side at once)
// passes that end on, so the far side is not left waiting for bytes that will never come. An HTTP/2
// stream reset by the far side resets the TCP connection it is spliced to, and a TCP reset resets the
// stream with CANCEL and no END_STREAM before it (which the far gateway would pass on as a clean end).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  connect as connectH2,
  constants,
  createServer as createH2Server,
  type ClientHttp2Stream,
} from 'node:http2';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import { splice } from '../gateway/listeners/splice.js';
import { waitFor, within } from './helpers/wait.js';

test('a side already closed when the splice begins closes the other side and reports done', async () => {
  const gone = new PassThrough();
  gone.destroy();
  await once(gone, 'close');
  const live = new PassThrough({ allowHalfOpen: true });
  let done = 0;
  splice(gone, live, () => done++);
  await once(live, 'close');
  assert.equal(live.destroyed, true);
  assert.equal(done, 1);
});

test('both sides open: destroying one closes the other, and done comes once', async () => {
  const left = new PassThrough({ allowHalfOpen: true });
  const right = new PassThrough({ allowHalfOpen: true });
  let done = 0;
  splice(left, right, () => done++);
  assert.equal(done, 0);
  left.destroy();
  await once(right, 'close');
  assert.equal(done, 1);
});

function listen(server: Server): Promise<AddressInfo> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(server.address() as AddressInfo)),
  );
}

async function acceptedFrom(
  server: Server,
  client: () => Socket,
): Promise<{ accepted: Socket; client: Socket }> {
  const accepting = once(server, 'connection') as Promise<[Socket]>;
  const socket = client();
  const [accepted] = await accepting;
  return { accepted, client: socket };
}

test(
  'a side whose sender finished before the splice begins passes the end on; the far side still answers',
  { timeout: 10_000 },
  async (t) => {
    const front = createServer({ allowHalfOpen: true });
    const back = createServer({ allowHalfOpen: true });
    t.after(() => {
      front.close();
      back.close();
    });
    const frontAddress = await listen(front);
    const backAddress = await listen(back);
    const caller = await acceptedFrom(front, () =>
      connect({ port: frontAddress.port, host: '127.0.0.1', allowHalfOpen: true }, function (this: Socket) {
        this.end();
      }),
    );
    // The caller's end is read, and 'end' emitted, while nothing listens yet (the far side was being set up).
    await once(caller.accepted, 'end');
    const upstream = await acceptedFrom(back, () =>
      connect({ port: backAddress.port, host: '127.0.0.1', allowHalfOpen: true }),
    );
    const closed = once(upstream.client, 'close');
    splice(caller.accepted, upstream.client);
    await once(upstream.accepted, 'end');
    upstream.accepted.end('answer after the end');
    let heard = '';
    caller.client.on('data', (chunk: Buffer) => (heard += chunk.toString()));
    await once(caller.client, 'end');
    assert.equal(heard, 'answer after the end');
    await closed;
  },
);

/** One end of a connection: what it read, and how it ended ('end', 'aborted', or 'error <code>'). */
interface Party {
  got: string;
  readonly ended: string[];
}

function recorded(stream: Duplex): Party {
  const party: Party = { got: '', ended: [] };
  stream.on('data', (chunk: Buffer) => (party.got += chunk.toString('latin1')));
  stream.on('end', () => party.ended.push('end'));
  stream.on('aborted', () => party.ended.push('aborted'));
  stream.on('error', (err: NodeJS.ErrnoException) => party.ended.push(`error ${err.code}`));
  return party;
}

/**
 * A gateway in miniature: each HTTP/2 stream accepted on 127.0.150.21 is spliced to a TCP connection to
 * an endpoint on 127.0.150.22, which keeps its end open after an EOF (allowHalfOpen).
 */
async function streamToSocket(t: TestContext): Promise<{
  request: (signal?: AbortSignal) => { stream: ClientHttp2Stream; caller: Party };
  accepted: { socket: Socket; party: Party }[];
}> {
  const accepted: { socket: Socket; party: Party }[] = [];
  const endpoint = createServer({ allowHalfOpen: true }, (socket) =>
    accepted.push({ socket, party: recorded(socket) }),
  );
  endpoint.listen(0, '127.0.150.22');
  await once(endpoint, 'listening');
  const { port } = endpoint.address() as AddressInfo;
  const gateway = createH2Server();
  gateway.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    const upstream = connect({ port, host: '127.0.150.22', allowHalfOpen: true }, () =>
      splice(stream, upstream),
    );
  });
  gateway.listen(0, '127.0.150.21');
  await once(gateway, 'listening');
  const session = connectH2(`http://127.0.150.21:${(gateway.address() as AddressInfo).port}`);
  t.after(() => {
    session.destroy();
    gateway.close();
    for (const { socket } of accepted) socket.destroy();
    endpoint.close();
  });
  return {
    request: (signal) => {
      const stream = session.request({ ':method': 'POST' }, { endStream: false, signal });
      return { stream, caller: recorded(stream) };
    },
    accepted,
  };
}

test('an HTTP/2 stream reset by the far side resets the socket, whatever the code', async (t) => {
  const fabric = await streamToSocket(t);
  // CANCEL, as a gateway resets a tunnel now; NO_ERROR while the stream could still send, as older ones do.
  for (const reset of ['CANCEL', 'NO_ERROR'] as const) {
    const aborting = new AbortController();
    const known = fabric.accepted.length;
    const { stream } = fabric.request(aborting.signal);
    stream.write('hello');
    const endpoint = await within('the endpoint to accept', 5_000, () => fabric.accepted[known]);
    await waitFor('the bytes to reach the endpoint', () => endpoint.party.got === 'hello', 5_000);
    if (reset === 'CANCEL') aborting.abort();
    else stream.destroy();
    await waitFor('the endpoint’s connection to end', () => endpoint.party.ended.length > 0, 5_000);
    assert.deepEqual(endpoint.party.ended, ['error ECONNRESET'], reset);
  }
});

test('a socket reset resets the HTTP/2 stream with CANCEL, without ending it first', async (t) => {
  const fabric = await streamToSocket(t);
  const { stream, caller } = fabric.request();
  stream.write('hello');
  const endpoint = await within('the endpoint to accept', 5_000, () => fabric.accepted[0]);
  endpoint.socket.write('partial');
  await waitFor('the bytes to reach the caller', () => caller.got === 'partial', 5_000);
  endpoint.socket.resetAndDestroy();
  await once(stream, 'close');
  assert.equal(caller.ended[0], 'aborted', `the stream ended: ${caller.ended.join(', ')}`);
  assert.equal(stream.rstCode, constants.NGHTTP2_CANCEL);
});
