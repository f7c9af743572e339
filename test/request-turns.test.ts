// Pipelined HTTP/1.1 requests taken one at a time (request-turns.ts), on a Node HTTP server as the
// outbound listener uses one: a connection with more than MAX_WAITING requests waiting is reset, so one
// caller cannot fill the gateway's memory with requests; a request that asks to close is answered in its
// turn, and requests behind an answer that closes the connection are never handed on.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { inTurn, MAX_WAITING } from '../gateway/listeners/request-turns.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.97.1';

/** A server whose requests go through inTurn to `handle`; counts the requests Node parsed. */
async function turnServer(t: TestContext, handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const parsed = { count: 0 };
  const server = createServer((req, res) => {
    parsed.count++;
    inTurn(req, res, handle);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const caller: Socket = connect({ host: HOST, port: (server.address() as { port: number }).port });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  await once(caller, 'connect');
  return { parsed, caller };
}

test('up to MAX_WAITING requests wait their turn and are answered in order; one more resets the connection', async (t) => {
  for (const behind of [MAX_WAITING, MAX_WAITING + 1]) {
    let held: ServerResponse | undefined;
    const handled: string[] = [];
    const { caller } = await turnServer(t, (req, res) => {
      handled.push(req.url ?? '');
      if (req.url === '/slow') held = res;
      else res.end(req.url);
    });
    let received = '';
    let ending = '';
    caller.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    caller.on('end', () => (ending = 'end'));
    caller.on('error', (err: NodeJS.ErrnoException) => (ending = err.code ?? err.message));
    let requests = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx';
    for (let i = 0; i < behind; i++)
      requests += `POST /${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx`;
    caller.write(requests);
    await waitFor('the slow request to be taken', () => held !== undefined, 5_000);
    if (behind > MAX_WAITING) {
      await waitFor('the connection to be reset', () => ending !== '', 5_000);
      assert.equal(ending, 'ECONNRESET');
      assert.deepEqual(handled, ['/slow']);
      continue;
    }
    await sleep(50);
    assert.deepEqual(handled, ['/slow'], 'the others wait');
    held?.end('/slow');
    await waitFor('every answer', () => received.endsWith(`\r\n\r\n/${behind - 1}`), 5_000);
    assert.deepEqual(handled, ['/slow', ...Array.from({ length: behind }, (_, i) => `/${i}`)]);
  }
});

test('a request that asks to close the connection, waiting behind one, is answered in its turn', async (t) => {
  let held: ServerResponse | undefined;
  const { caller } = await turnServer(t, (req, res) => {
    if (req.url === '/first') held = res;
    else res.end(req.url);
  });
  let received = '';
  caller.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  caller.write(
    'POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx' +
      'POST /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx',
  );
  await waitFor('the first request to be taken', () => held !== undefined, 5_000);
  held?.end('/first');
  await once(caller, 'end');
  assert.match(received, /\r\n\r\n\/first[^]*\r\n\r\n\/last$/);
});

test('requests waiting behind an answer that closes the connection are never handed on', async (t) => {
  let held: ServerResponse | undefined;
  const handled: string[] = [];
  const { caller } = await turnServer(t, (req, res) => {
    handled.push(req.url ?? '');
    if (req.url === '/first') held = res;
    else res.end();
  });
  caller.write(
    'POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx' +
      'POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx' +
      'DELETE /third HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
  );
  await waitFor('the first request to be taken', () => held !== undefined, 5_000);
  caller.resume();
  held?.writeHead(200, { connection: 'close' }).end('bye');
  await once(caller, 'close');
  await sleep(50);
  assert.deepEqual(handled, ['/first']);
});
