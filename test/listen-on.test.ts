// listenOn(): a bind failure is one clear LISTEN_FAILED error naming the listener and the address; once
// bound, an 'error' from the server (a connection accept() could not take: ENOBUFS, ENOMEM, a network
// error the kernel hands to accept) goes to the listener's handler instead of ending the process, and
// the server keeps accepting. The kernel cannot be made to fail accept() on loopback, so the test emits
// the error the way net.Server does on such a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { listenOn } from '../gateway/listen-error.js';

const HOST = '127.0.72.1';

test('a bind failure names the listener, the address and the cause', async (t) => {
  const first = createServer();
  const second = createServer();
  t.after(() => first.close());
  const port = await listenOn(first, { host: HOST, port: 0 }, 'first', () => undefined);
  await assert.rejects(
    listenOn(second, { host: HOST, port }, 'outbound listener (listen.outbound)', () => undefined),
    {
      code: 'LISTEN_FAILED',
      message: new RegExp(
        `outbound listener \\(listen\\.outbound\\) cannot listen on ${HOST}:${port}: .*EADDRINUSE`,
      ),
    },
  );
});

test('an accept failure after the bind goes to the handler; the server keeps accepting', async (t) => {
  const failures: string[] = [];
  const server = createServer((socket) => socket.end('hello'));
  t.after(() => server.close());
  const port = await listenOn(
    server,
    { host: HOST, port: 0 },
    'tcp listener for db (tcp[].listen)',
    (what, err) => failures.push(`${what}: ${err.message}`),
  );
  const err = Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', syscall: 'accept' });
  assert.doesNotThrow(() => server.emit('error', err));
  assert.deepEqual(failures, ['tcp listener for db (tcp[].listen): accept ENOBUFS']);
  const client = connect({ host: HOST, port });
  let heard = '';
  client.on('data', (chunk: Buffer) => (heard += chunk.toString()));
  await once(client, 'end');
  assert.equal(heard, 'hello');
});
