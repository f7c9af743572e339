// The request timeout counts from the end of the request, as Envoy's route timeout does: an upload that
// takes longer than the timeout to send still gets its answer, and an upstream that never answers still
// gets the caller a 504 once the timeout has passed after the request ended. Meanwhile an upload is
// bounded by its progress: one that an upstream stops reading gets a 504 too. An upload cut short by its
// caller harms nothing. Real gateway process.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { FailoverFabric, singleCluster } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { patternBytes, sha256 } from './helpers/sample-upstreams.js';
import { startStallingUpstream, type StallingUpstream } from './helpers/stalling-upstream.js';
import { waitFor } from './helpers/wait.js';

const HOST = '127.0.94.1';
const TIMEOUT = { timeouts: { request: '1s', perTry: '1s' } };

let fabric: FailoverFabric;
let stall: StallingUpstream;

before(async () => {
  stall = await startStallingUpstream(HOST);
  fabric = await FailoverFabric.start(
    [
      singleCluster(HOST, {
        hello: TIMEOUT,
        services: [{ name: 'stall', protocol: 'http', endpoints: [stall.endpoint], ...TIMEOUT }],
      }),
    ],
    {},
  );
});

after(async () => {
  await fabric?.close();
  stall?.close();
});

/** PUTs `body` in `parts` chunks, `gapMs` apart (chunked); resolves with the status and the body digest the upstream saw. */
function slowUpload(body: Buffer, parts: number, gapMs: number): Promise<{ status: number; digest: string }> {
  const { host, port } = fabric.gateway('a').outbound;
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method: 'PUT', path: '/', headers: { host: 'hello' } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, digest: String(res.headers['x-body-sha256']) }),
      );
    });
    req.on('error', reject);
    void (async () => {
      const size = Math.ceil(body.length / parts);
      for (let i = 0; i < parts; i++) {
        req.write(body.subarray(i * size, (i + 1) * size));
        await sleep(gapMs);
      }
      req.end();
    })();
  });
}

test('an upload longer than the request timeout is answered', { timeout: 30_000 }, async () => {
  const body = patternBytes(1_000_000);
  const started = Date.now();
  const answer = await slowUpload(body, 10, 250);
  console.log(`1 MB PUT sent over ${Date.now() - started} ms with a 1 s request timeout: ${answer.status}`);
  assert.equal(answer.status, 200);
  assert.equal(answer.digest, sha256(body));
});

test(
  'an upstream that never answers gets the caller a 504 after the request timeout',
  { timeout: 30_000 },
  async () => {
    const { host, port } = fabric.gateway('a').outbound;
    const started = Date.now();
    const answer = await httpCall(`http://${host}:${port}/`, { headers: { host: 'stall' } });
    const waited = Date.now() - started;
    console.log(`no answer from the upstream: ${answer.status} after ${waited} ms (request timeout 1 s)`);
    assert.equal(answer.status, 504);
    assert.ok(waited >= 900 && waited < 10_000, `${waited} ms`);
  },
);

test('an upload the upstream stops reading gets a 504, not a hang', { timeout: 30_000 }, async () => {
  const { host, port } = fabric.gateway('a').outbound;
  const started = Date.now();
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host, port, method: 'PUT', path: '/', headers: { host: 'stall' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    const chunk = patternBytes(64 * 1024);
    // Writes until the stalled upstream's buffers are full and the gateway stops reading.
    const pump = () => {
      while (req.write(chunk));
    };
    req.on('drain', pump);
    pump();
  });
  const waited = Date.now() - started;
  console.log(`an upload nobody reads: ${status} after ${waited} ms (request timeout 1 s)`);
  assert.equal(status, 504);
  assert.ok(waited < 10_000, `${waited} ms`);
});

test(
  'an upload its caller cuts short harms nothing: the next request is served',
  { timeout: 30_000 },
  async () => {
    const { host, port } = fabric.gateway('a').outbound;
    for (let i = 0; i < 5; i++) {
      const socket = connect(port, host);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('PUT / HTTP/1.1\r\nhost: hello\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n');
      const hello = fabric.instances.get('a')?.[0];
      const seen = hello?.received ?? 0;
      await waitFor('the upload to reach hello', () => (hello?.received ?? 0) > seen, 10_000);
      socket.destroy();
    }
    const answer = await httpCall(`http://${host}:${port}/`, { headers: { host: 'hello' } });
    assert.equal(answer.status, 200);
    assert.equal(fabric.gateway('a').process.exitStatus, undefined, 'the gateway is still running');
  },
);
