// What one HTTP/2 caller connection can hold at once is bounded: the outbound listener allows
// `limits.callerStreams` concurrent streams per connection (100 by default, HAProxy's), so a caller that
// opens more waits for a slot instead of pinning an endpoint connection and a stream window of buffered
// answer for each one. A reload changes the limit for open connections too, without dropping a caller
// that is slow to acknowledge SETTINGS.
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { ACK_FLAG, frame, FRAME, H2_PREFACE, readFrames, settingValue } from './helpers/h2-frames.js';
import { waitFor } from './helpers/wait.js';

const CALLER_STREAMS = 150;
const DEFAULT_LIMIT = 100;
const RELOADED_LIMIT = 120;

/** Holds every request until released; counts the most it held at once. */
const held: ServerResponse[] = [];
let mostHeld = 0;
const endpoint = createServer((_req, res) => {
  held.push(res);
  mostHeld = Math.max(mostHeld, held.length);
});

function releaseAll(): void {
  for (const res of held.splice(0)) res.end('ok');
}

let fabric: TestFabric;

before(async () => {
  endpoint.listen(0, '127.0.1.42');
  await once(endpoint, 'listening');
  const { port } = endpoint.address() as AddressInfo;
  fabric = await TestFabric.start([
    { cluster: 'a', host: '127.0.1.1', services: [{ name: 'held', endpoints: [`127.0.1.42:${port}`] }] },
  ]);
});

after(async () => {
  releaseAll();
  await fabric?.close();
  endpoint.closeAllConnections();
  endpoint.close();
});

function connectCaller(): ClientHttp2Session {
  const a = fabric.gateway('a');
  return http2.connect(`http://${a.host}:${a.outboundPort}`);
}

/**
 * Sends CALLER_STREAMS requests at once on `session`, checks that the endpoint holds exactly `limit` of
 * them and no more, then releases them all and checks every one is answered.
 */
async function assertStreamsInFlight(session: ClientHttp2Session, limit: number): Promise<void> {
  mostHeld = 0;
  const answers = Array.from({ length: CALLER_STREAMS }, () => {
    const stream = session.request({ ':path': '/', ':authority': 'held' });
    stream.resume();
    return new Promise<number>((resolve, reject) => {
      stream.once('response', (headers) => resolve(Number(headers[':status'])));
      stream.once('error', reject);
    });
  });
  await waitFor('the endpoint to hold the first streams', () => held.length >= limit, 15_000);
  // The other streams were sent with the first: given a slot, they would have reached the endpoint by now.
  await new Promise((resolve) => setTimeout(resolve, 500));
  console.log(`the endpoint held ${held.length} of ${CALLER_STREAMS} requests sent at once (limit ${limit})`);
  assert.equal(held.length, limit);
  const released = setInterval(releaseAll, 20);
  try {
    const statuses = await Promise.all(answers);
    assert.deepEqual(new Set(statuses), new Set([200]));
  } finally {
    clearInterval(released);
  }
  assert.equal(mostHeld, limit);
}

test(
  `one HTTP/2 caller connection has at most ${DEFAULT_LIMIT} streams in flight by default; the rest wait`,
  { timeout: 30_000 },
  async (t) => {
    const session = connectCaller();
    t.after(() => session.destroy());
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, DEFAULT_LIMIT);
    await assertStreamsInFlight(session, DEFAULT_LIMIT);
  },
);

test(
  'a reload of limits.callerStreams reaches open caller connections and new ones',
  { timeout: 30_000 },
  async (t) => {
    const a = fabric.gateway('a');
    const open = connectCaller();
    t.after(() => open.destroy());
    await once(open, 'remoteSettings');
    assert.equal(open.remoteSettings.maxConcurrentStreams, DEFAULT_LIMIT);

    const settingsArrive = once(open, 'remoteSettings');
    await a.dataPlane.updateConfig({ ...a.config, limits: { callerStreams: RELOADED_LIMIT } });
    t.after(() => a.dataPlane.updateConfig(a.config));
    await settingsArrive;
    assert.equal(open.remoteSettings.maxConcurrentStreams, RELOADED_LIMIT);
    await assertStreamsInFlight(open, RELOADED_LIMIT);

    const fresh = connectCaller();
    t.after(() => fresh.destroy());
    await once(fresh, 'remoteSettings');
    assert.equal(fresh.remoteSettings.maxConcurrentStreams, RELOADED_LIMIT);
  },
);

const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;

test(
  'reloads reach a caller that has not acknowledged SETTINGS yet: the latest limit, once it does',
  { timeout: 30_000 },
  async (t) => {
    const a = fabric.gateway('a');
    const caller = connectTcp({ host: a.host, port: a.outboundPort });
    t.after(() => caller.destroy());
    caller.on('error', () => undefined);
    const received: Buffer[] = [];
    caller.on('data', (chunk: Buffer) => received.push(chunk));
    await once(caller, 'connect');
    caller.write(H2_PREFACE);
    const settingsSent = () =>
      readFrames(Buffer.concat(received)).filter((f) => f.type === FRAME.SETTINGS && !(f.flags & ACK_FLAG));
    await waitFor('the listener’s SETTINGS', () => settingsSent().length === 1, 5_000);

    // Node drops a session with ten SETTINGS unacknowledged; twelve reloads must not.
    const limits = Array.from({ length: 12 }, (_, i) => DEFAULT_LIMIT + 1 + i);
    t.after(() => a.dataPlane.updateConfig(a.config));
    for (const callerStreams of limits)
      await a.dataPlane.updateConfig({ ...a.config, limits: { callerStreams } });
    caller.write(frame(FRAME.PING, 0, 0, Buffer.from('roundtrp')));
    await waitFor(
      'the answer to a PING sent after the reloads',
      () => readFrames(Buffer.concat(received)).some((f) => f.type === FRAME.PING && f.flags & ACK_FLAG),
      5_000,
    );
    assert.ok(!readFrames(Buffer.concat(received)).some((f) => f.type === FRAME.GOAWAY), 'no GOAWAY');
    assert.equal(settingsSent().length, 1, 'nothing more until the caller acknowledges');

    caller.write(frame(FRAME.SETTINGS, ACK_FLAG, 0, Buffer.alloc(0)));
    await waitFor('the held SETTINGS', () => settingsSent().length === 2, 5_000);
    const latest = settingsSent()[1]?.payload ?? Buffer.alloc(0);
    assert.equal(settingValue(latest, SETTINGS_MAX_CONCURRENT_STREAMS), limits.at(-1));
  },
);
