// splice() on its own: a side that closed before the splice began (a reset while the far side was
// being set up) tears the other side down and still reports done, instead of leaving it open; a side
// whose sender had already finished (a client that connected and shut down its write side at once)
// passes that end on, so the far side is not left waiting for bytes that will never come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { splice } from '../gateway/listeners/splice.js';

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
