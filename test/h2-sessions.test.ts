// H2Sessions and a session that ended (GOAWAY, its last stream done) while the end of its last answer is
// still on its way to a caller that reads slowly: the socket stays while the caller keeps sending (its
// WINDOW_UPDATEs as it reads), so the answer arrives whole; a silent caller loses it (outbound-liveness).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createH2Server } from 'node:http2';
import { connect, createServer } from 'node:net';
import { H2Sessions, handToH2Server } from '../gateway/listeners/h2-sessions.js';
import { CLIENT_PREFACE, frame, FRAME, readFrames } from './helpers/h2-frames.js';

const HOST = '127.0.95.1';
const CHECK_MS = 200;
const BODY_BYTES = 2 * 1024 * 1024;

test('a caller still reading the end of its answer after the session ended gets all of it', async (t) => {
  const sessions = new H2Sessions(CHECK_MS, () => undefined);
  t.after(() => sessions.destroyAll());
  const h2 = createH2Server();
  h2.on('session', (session) => {
    sessions.track(session);
    session.on('error', () => session.destroy());
  });
  h2.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end(Buffer.alloc(BODY_BYTES, 0x61));
    // A drain: GOAWAY now, the session ends with this stream.
    stream.session?.close();
  });
  const server = createServer((socket) => handToH2Server(h2, socket));
  server.listen(0, HOST);
  await once(server, 'listening');
  t.after(() => server.close());

  const caller = connect({ host: HOST, port: (server.address() as { port: number }).port });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  await once(caller, 'connect');
  // A large window, so the whole answer leaves the server at once and waits in the sockets' buffers.
  const window = 16 * 1024 * 1024;
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(0x4, 0);
  settings.writeUInt32BE(window, 2);
  const increment = Buffer.alloc(4);
  increment.writeUInt32BE(window, 0);
  const getRoot = Buffer.from([0x82, 0x86, 0x84, 0x41, 0x01, 0x78]); // GET http / :authority x
  caller.write(
    Buffer.concat([
      CLIENT_PREFACE,
      frame(FRAME.SETTINGS, 0, 0, settings),
      frame(FRAME.SETTINGS, 0x1, 0, Buffer.alloc(0)),
      frame(FRAME.WINDOW_UPDATE, 0, 0, increment),
      frame(FRAME.HEADERS, 0x5, 1, getRoot),
    ]),
  );
  // A slow reader: 128 KiB every 50 ms (about 2.6 MB/s, so the answer takes several checks to read),
  // crediting back what it read, as an HTTP/2 client does.
  const chunks: Buffer[] = [];
  let read = 0;
  let credited = 0;
  const reader = setInterval(() => {
    for (let n = 0; n < 2 && caller.readableLength > 0; n++) {
      const chunk = caller.read(Math.min(64 * 1024, caller.readableLength)) as Buffer | null;
      if (chunk) {
        chunks.push(chunk);
        read += chunk.length;
      }
    }
    caller.read(0);
    if (read - credited >= 256 * 1024 && caller.writable) {
      const credit = Buffer.alloc(4);
      credit.writeUInt32BE(read - credited, 0);
      caller.write(frame(FRAME.WINDOW_UPDATE, 0, 0, credit));
      credited = read;
    }
  }, 50);
  t.after(() => clearInterval(reader));
  const started = Date.now();
  await once(caller, 'close');
  clearInterval(reader);
  const frames = readFrames(Buffer.concat(chunks));
  const body = frames.filter((f) => f.type === 0x0 && f.streamId === 1);
  const bodyBytes = body.reduce((n, f) => n + f.payload.length, 0);
  console.log(`the caller read ${bodyBytes} of ${BODY_BYTES} bytes in ${Date.now() - started} ms`);
  assert.equal(bodyBytes, BODY_BYTES);
  assert.ok(
    body.some((f) => (f.flags & 0x1) !== 0),
    'END_STREAM arrived',
  );
});
