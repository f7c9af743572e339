// The outbound listener's HTTP/2 sessions: a local app that opened an h2c connection and then stopped
// answering (its node died, a frozen process) gets GOAWAY after an unanswered PING, then loses the
// connection; an app that answers keeps its own, with TCP keep-alive on. One that retired its connection
// with a GOAWAY and then never closed it loses it too.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectH2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import type { OutboundListener } from '../gateway/listeners/outbound-listener.js';
import { startBareOutboundListener } from './helpers/bare-outbound-listener.js';
import { frame, FRAME, H2_PREFACE, readFrames } from './helpers/h2-frames.js';
import { ESTABLISHED, KEEPALIVE_TIMER, tcpSockets } from './helpers/proc-net-tcp.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.76.1';

/** An outbound listener that expects no request; `lost` collects its lost-caller reports. */
function startListener(t: TestContext, lost: string[]): Promise<OutboundListener> {
  return startBareOutboundListener(t, HOST, { onSessionLost: (message) => lost.push(message) });
}

test('an h2c caller that stops answering PINGs loses its connection; one that answers keeps it', async (t) => {
  const lost: string[] = [];
  const listener = await startListener(t, lost);

  const live = connectH2(`http://${HOST}:${listener.port}`);
  t.after(() => live.destroy());
  await once(live, 'connect');

  const frozen = connectTcp({ host: HOST, port: listener.port });
  frozen.on('error', () => undefined);
  await once(frozen, 'connect');
  frozen.write(H2_PREFACE);
  await waitFor('both connections', () => listener.openConnections === 2, 5_000);
  frozen.pause();

  await waitFor('the frozen caller’s connection to close', () => listener.openConnections === 1, 5_000);
  // What the caller finds once it reads again: a GOAWAY first, so a pooled client dials anew.
  const received: Buffer[] = [];
  frozen.on('data', (chunk: Buffer) => received.push(chunk));
  frozen.resume();
  await waitFor('the end of the frozen connection', () => frozen.readableEnded || frozen.destroyed, 5_000);
  assert.ok(
    readFrames(Buffer.concat(received)).some((f) => f.type === FRAME.GOAWAY),
    'a GOAWAY before the close',
  );
  assert.equal(lost.length, 1);
  assert.match(lost[0] ?? '', /no answer to a PING in 200 ms/);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(live.destroyed, false, 'a caller that answers PINGs keeps its connection');
  assert.equal(listener.openConnections, 1);
  await waitFor(
    'the accepted connection to run a TCP keep-alive timer',
    async () =>
      (await tcpSockets()).some(
        (s) => s.localPort === listener.port && s.state === ESTABLISHED && s.timer === KEEPALIVE_TIMER,
      ),
    5_000,
  );
});

test('an h2c caller that sends GOAWAY and then never closes its connection loses it', async (t) => {
  const listener = await startListener(t, []);
  // allowHalfOpen: the caller's end of the connection does not follow the listener's.
  const caller = connectTcp({ host: HOST, port: listener.port, allowHalfOpen: true });
  caller.on('error', () => undefined);
  t.after(() => caller.destroy());
  await once(caller, 'connect');
  caller.resume();
  const noError = Buffer.alloc(8);
  caller.write(
    Buffer.concat([
      H2_PREFACE,
      frame(FRAME.SETTINGS, 0x1, 0, Buffer.alloc(0)),
      frame(FRAME.GOAWAY, 0, 0, noError),
    ]),
  );
  await waitFor('the GOAWAY to close the session', () => caller.readableEnded, 5_000);
  // Node ended its side and waits for the caller's FIN, which a frozen or gone caller never sends.
  await waitFor('the listener to let the connection go', () => listener.openConnections === 0, 5_000);
  assert.equal(caller.destroyed || caller.readableEnded, true);
});
