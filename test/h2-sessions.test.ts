// HTTP/2 caller sessions that ended (GOAWAY, their last stream done) while their socket waits for the
// caller's FIN. A caller still reading the end of its answer during a drain gets all of it (the drain's
// passes over lingering connections leave its socket alone); one that never closes loses the socket
// LINGER_MAX_MS after a check found the session ended, whether it keeps sending or not.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createH2Server } from 'node:http2';
import { connect } from 'node:net';
import { H2Sessions, handToH2Server } from '../gateway/listeners/h2-sessions.js';
import { LINGER_MAX_MS } from '../gateway/listeners/lingering-close.js';
import { startBareOutboundListener } from './helpers/bare-outbound-listener.js';
import { CLIENT_PREFACE, frame, FRAME, H2_PREFACE, readFrames } from './helpers/h2-frames.js';
import { halfOpenConnection } from './helpers/half-open-connection.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.95.1';
const BODY_BYTES = 2 * 1024 * 1024;
/** How often the data plane calls closeIdle while it drains. */
const DRAIN_POLL_MS = 50;

test('during a drain, a caller still reading the end of its answer gets all of it', async (t) => {
  const listener = await startBareOutboundListener(t, HOST, {
    onStream: (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(Buffer.alloc(BODY_BYTES, 0x61));
      listener.drain();
    },
  });
  const drainPasses = setInterval(() => listener.closeIdle(), DRAIN_POLL_MS);
  t.after(() => clearInterval(drainPasses));

  const caller = connect({ host: HOST, port: listener.port });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  await once(caller, 'connect');
  // A large window, so the whole answer leaves the gateway at once and waits in the sockets' buffers.
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
  // A slow reader: 128 KiB every 50 ms (about 2.6 MB/s, so the answer takes several of the listener's
  // 200 ms checks to read), crediting back what it read, as an HTTP/2 client does.
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
  const body = readFrames(Buffer.concat(chunks)).filter((f) => f.type === 0x0 && f.streamId === 1);
  const bodyBytes = body.reduce((n, f) => n + f.payload.length, 0);
  console.log(`the caller read ${bodyBytes} of ${BODY_BYTES} bytes in ${Date.now() - started} ms`);
  assert.equal(bodyBytes, BODY_BYTES);
  assert.ok(
    body.some((f) => (f.flags & 0x1) !== 0),
    'END_STREAM arrived',
  );
});

for (const sending of [false, true]) {
  test(
    `a caller that ${sending ? 'keeps sending' : 'sends nothing'} after its session ended and never closes loses it after LINGER_MAX_MS`,
    { timeout: 20_000 },
    async (t) => {
      const checkMs = 10_000;
      mock.timers.enable({ apis: ['setInterval', 'Date'] });
      t.after(() => mock.timers.reset());
      const sessions = new H2Sessions(checkMs, () => undefined);
      t.after(() => sessions.destroyAll());
      const h2 = createH2Server();
      h2.on('session', (session) => {
        sessions.track(session);
        session.on('error', () => session.destroy());
      });
      const { caller, socket } = await halfOpenConnection(t, HOST, (accepted) =>
        handToH2Server(h2, accepted),
      );
      // The caller retires the connection (GOAWAY, no streams): the session ends, the socket waits for a FIN.
      caller.write(
        Buffer.concat([
          H2_PREFACE,
          frame(FRAME.SETTINGS, 0x1, 0, Buffer.alloc(0)),
          frame(FRAME.GOAWAY, 0, 0, Buffer.alloc(8)),
        ]),
      );
      await once(caller, 'end');
      const check = async () => {
        mock.timers.tick(checkMs);
        await new Promise((resolve) => setImmediate(resolve)); // the check runs on setImmediate
      };
      await check(); // the first check finds the session ended
      for (let elapsedMs = 0; elapsedMs < LINGER_MAX_MS; elapsedMs += checkMs) {
        assert.equal(socket.destroyed, false, `closed ${elapsedMs} ms after the first check`);
        if (sending) {
          const before = socket.bytesRead;
          caller.write(frame(FRAME.PING, 0, 0, Buffer.alloc(8)));
          await waitFor('the ping to be read', () => socket.bytesRead > before, 5_000);
        }
        await check();
      }
      assert.equal(socket.destroyed, true, 'closed by the check at LINGER_MAX_MS');
    },
  );
}
