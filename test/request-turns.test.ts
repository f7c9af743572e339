// Pipelined HTTP/1.1 requests taken one at a time (request-turns.ts), on a Node HTTP server as the
// outbound listener uses one: a connection with many requests waiting is read no further until they are
// taken, so one caller cannot fill the gateway's memory with requests; requests behind an answer that
// closes the connection are never handed on.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { inTurn } from '../gateway/listeners/request-turns.js';
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

test('a connection with requests waiting is read no further until they are taken; all are answered in order', async (t) => {
  let held: ServerResponse | undefined;
  const handled: string[] = [];
  const { parsed, caller } = await turnServer(t, (req, res) => {
    handled.push(req.url ?? '');
    if (req.url === '/slow') held = res;
    else res.end(req.url);
  });
  let received = '';
  caller.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const total = 20_000;
  let requests = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx';
  for (let i = 0; i < total; i++) requests += `POST /${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx`;
  caller.write(requests);
  await waitFor('the slow request to be taken', () => held !== undefined, 5_000);
  // What Node parses from the reads already under way, then nothing more (without the bound: all 20 001).
  await waitFor(
    'parsing to stop',
    async () => {
      const before = parsed.count;
      await sleep(100);
      return parsed.count === before;
    },
    10_000,
  );
  console.log(`parsed ${parsed.count} of ${total + 1} requests while the first was held`);
  assert.ok(parsed.count < total / 4, `parsed ${parsed.count}`);
  assert.deepEqual(handled, ['/slow']);

  held?.end('/slow');
  await waitFor(
    'every answer',
    () => handled.length === total + 1 && received.endsWith(`\r\n\r\n/${total - 1}`),
    30_000,
  );
  assert.deepEqual(handled.slice(0, 3), ['/slow', '/0', '/1']);
  assert.deepEqual(
    handled.slice(1).map((url) => Number(url.slice(1))),
    Array.from({ length: total }, (_, i) => i),
  );
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
