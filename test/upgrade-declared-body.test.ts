// readDeclaredBody, which reads an Upgrade request's Content-Length body before the gateway dials the
// local endpoint: over a real socket pair, a caller that stops sending for the idle time, or ends its side,
// gets no body (the gateway then closes the connection), while one whose bytes keep coming within it is
// read whole however long it takes, with what followed the body handed back.
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readDeclaredBody } from '../gateway/listeners/upgrade-request-body.js';

const HOST = '127.0.53.1';
const IDLE_MS = 1000;
let server: ReturnType<typeof createServer>;
const accepted: Socket[] = [];

before(async () => {
  server = createServer({ allowHalfOpen: true }, (socket) => accepted.push(socket));
  server.listen(0, HOST);
  await once(server, 'listening');
});

after(() => {
  for (const socket of accepted) socket.destroy();
  server.close();
});

/** A connected pair: the caller's end and the gateway's. */
async function pair(): Promise<{ caller: Socket; gateway: Socket }> {
  const count = accepted.length;
  const caller = connect({
    host: HOST,
    port: (server.address() as { port: number }).port,
    allowHalfOpen: true,
  });
  await once(caller, 'connect');
  while (accepted.length === count) await new Promise((resolve) => setImmediate(resolve));
  return { caller, gateway: accepted[accepted.length - 1] as Socket };
}

function read(gateway: Socket, head: string, length: number) {
  const started = performance.now();
  return new Promise<{ body: string | undefined; rest: string; ms: number }>((resolve) =>
    readDeclaredBody(gateway, Buffer.from(head), length, false, IDLE_MS, (body, rest) =>
      resolve({ body: body?.toString(), rest: rest.toString(), ms: performance.now() - started }),
    ),
  );
}

test('a caller that stops sending its body for the idle time gets no body', async () => {
  const { caller, gateway } = await pair();
  const result = read(gateway, 'he', 5);
  caller.write('l');
  const { body, ms } = await result;
  console.log(`stalled body given up after ${Math.round(ms)} ms (idle ${IDLE_MS} ms)`);
  assert.equal(body, undefined);
  assert.ok(ms >= IDLE_MS - 20, `given up after ${ms} ms, before the idle time`);
  caller.destroy();
});

test('a body whose bytes keep coming within the idle time is read whole, past the idle time in all', async () => {
  const { caller, gateway } = await pair();
  const result = read(gateway, '', 5);
  for (const chunk of ['h', 'e', 'l', 'l', 'oNEXT']) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 4));
    caller.write(chunk);
  }
  const { body, rest, ms } = await result;
  assert.equal(body, 'hello');
  assert.ok(ms > IDLE_MS, `read in ${ms} ms: the test did not outlast the idle time`);
  assert.equal(rest, 'NEXT', 'what followed the body is handed back');
  caller.destroy();
});

test('a caller that ends its side before the body is whole gets no body, at once', async () => {
  const { caller, gateway } = await pair();
  const result = read(gateway, 'he', 5);
  caller.end();
  const { body, ms } = await result;
  assert.equal(body, undefined);
  assert.ok(ms < IDLE_MS, `took ${ms} ms`);
  caller.destroy();
});
