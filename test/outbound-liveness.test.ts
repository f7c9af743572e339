// The outbound listener's HTTP/2 sessions: a local app that opened an h2c connection and then stopped
// answering (its node died, a frozen process) gets GOAWAY after an unanswered PING, then loses the
// connection; an app that answers keeps its own, with TCP keep-alive on. (One that retired its connection
// with a GOAWAY and then never closed it: h2-sessions.test.ts.)
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectH2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import type { OutboundListener } from '../gateway/listeners/outbound-listener.js';
import { startBareOutboundListener } from './helpers/bare-outbound-listener.js';
import { FRAME, H2_PREFACE, readFrames } from './helpers/h2-frames.js';
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
