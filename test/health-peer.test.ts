// PeerHealthProber against a real peer: an mTLS HTTP/2 server in a child process (certificates from the
// test PKI), probed with HTTP/2 PINGs over one long-lived session. A SIGSTOPped (frozen) peer must be
// unhealthy within 2 s; SIGCONT brings it back after `rise` answers; a killed one is out within 2 s too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkServerIdentityFor, gatewayDnsNameFor } from '../infra/index.js';
import {
  PeerHealthProber,
  pingHttp2Session,
  type PeerHealthChange,
  type PeerPing,
} from '../gateway/health/index.js';
import { createFabricPki } from './helpers/fabric-pki.js';
import { waitFor } from './helpers/wait.js';

const CHILD = fileURLToPath(new URL('./helpers/h2-peer-child.ts', import.meta.url));
const TRUST_DOMAIN = 'acme.test';
const PEER_HOST = '127.0.6.1';
const PROBE = { intervalMs: 250, timeoutMs: 1000, rise: 2, fall: 2 };

async function startPeer(paths: {
  ca: string;
  cert: string;
  key: string;
}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      WEFT_HOST: PEER_HOST,
      WEFT_CA: paths.ca,
      WEFT_CERT: paths.cert,
      WEFT_KEY: paths.key,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => assert.fail('the peer process exited before listening')),
  ])) as [string];
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

/** The transport's part, as the data plane will provide it: one mTLS HTTP/2 session per peer, pinged. */
function sessionPinger(tls: { ca: Buffer; cert: Buffer; key: Buffer }, port: number) {
  let session: ClientHttp2Session | undefined;
  const sessions: ClientHttp2Session[] = [];
  const ready = (signal: AbortSignal): Promise<ClientHttp2Session> => {
    if (session && !session.closed && !session.destroyed) return Promise.resolve(session);
    const fresh = connect(`https://${PEER_HOST}:${port}`, {
      ...tls,
      minVersion: 'TLSv1.3',
      servername: gatewayDnsNameFor(TRUST_DOMAIN, 'gcp-euw1'),
      checkServerIdentity: checkServerIdentityFor({ trustDomain: TRUST_DOMAIN, cluster: 'gcp-euw1' }),
    });
    fresh.on('error', () => undefined);
    session = fresh;
    sessions.push(fresh);
    return new Promise((resolve, reject) => {
      const fail = (reason: string) => {
        fresh.destroy();
        reject(new Error(reason));
      };
      fresh.once('remoteSettings', () => resolve(fresh));
      fresh.once('close', () => fail('connection closed during setup'));
      fresh.once('error', (err: Error) => fail(err.message));
      signal.addEventListener('abort', () => fail('aborted'), { once: true });
    });
  };
  const ping: PeerPing = async (_peer, signal) => pingHttp2Session(await ready(signal), signal);
  return { ping, close: () => sessions.forEach((s) => s.destroy()) };
}

test('a frozen (SIGSTOP) peer gateway is unhealthy within 2 s, back after SIGCONT; a killed one is out within 2 s', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-peer-probe-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createFabricPki(dir, { trustDomain: TRUST_DOMAIN, clusters: ['aws-use1', 'gcp-euw1'] });
  const { child, port } = await startPeer(pki.pathsOf('gcp-euw1'));
  t.after(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  });
  const own = pki.pathsOf('aws-use1');
  const pinger = sessionPinger(
    { ca: await readFile(own.ca), cert: await readFile(own.cert), key: await readFile(own.key) },
    port,
  );
  t.after(() => pinger.close());

  const changes: (PeerHealthChange & { at: number })[] = [];
  const prober = new PeerHealthProber({ ...PROBE, ping: pinger.ping });
  t.after(() => prober.close());
  prober.subscribe((change) => changes.push({ ...change, at: performance.now() }));
  const key = `gcp-euw1/g1@${PEER_HOST}:${port}`;
  prober.setPeers([{ key, cluster: 'gcp-euw1' }]);
  prober.start();

  await waitFor('first answer', () => prober.state()[0]?.status === 'healthy', 10_000);
  await waitFor('a few RTT samples', () => (prober.state()[0]?.probes ?? 0) >= 4, 10_000);
  const rtt = prober.rttMs(key);
  assert.ok(rtt !== undefined && rtt > 0 && rtt < 100, `loopback RTT ${rtt} ms`);
  assert.equal(prober.clusterRttMs('gcp-euw1'), rtt);
  assert.equal(prober.isHealthy(key), true);

  const frozenAt = performance.now();
  child.kill('SIGSTOP');
  let unresponsiveAt = 0;
  await waitFor(
    'not responsive',
    () => {
      if (!prober.isUsable(key)) unresponsiveAt ||= performance.now();
      return unresponsiveAt > 0;
    },
    10_000,
  );
  await waitFor('unhealthy', () => changes.some((c) => !c.healthy), 10_000);
  const down = changes.find((c) => !c.healthy);
  const detectMs = (down?.at ?? 0) - frozenAt;
  const softMs = unresponsiveAt - frozenAt;
  t.diagnostic(
    `SIGSTOP: not responsive after ${softMs.toFixed(0)} ms, unhealthy after ${detectMs.toFixed(0)} ms`,
  );
  assert.ok(detectMs < 2000, `a frozen peer must be out within 2 s, took ${detectMs.toFixed(0)} ms`);
  assert.match(down?.reason ?? '', /2 probe\(s\) failed in a row: no answer to PING within 1000 ms/);
  assert.equal(prober.isHealthy(key), false);
  assert.equal(prober.clusterRttMs('gcp-euw1'), undefined);

  const resumedAt = performance.now();
  child.kill('SIGCONT');
  await waitFor('healthy again', () => prober.isHealthy(key), 10_000);
  t.diagnostic(`SIGCONT: healthy again after ${(performance.now() - resumedAt).toFixed(0)} ms`);
  assert.equal(changes.at(-1)?.healthy, true);
  assert.ok((prober.state()[0]?.consecutiveSuccesses ?? 0) >= 2, 'rise = 2');

  const killedAt = performance.now();
  child.kill('SIGKILL');
  await once(child, 'exit');
  await waitFor('unhealthy after kill', () => !prober.isHealthy(key), 10_000);
  const killMs = performance.now() - killedAt;
  t.diagnostic(`SIGKILL: unhealthy after ${killMs.toFixed(0)} ms (${prober.state()[0]?.lastError})`);
  assert.ok(killMs < 2000, `a dead peer must be out within 2 s, took ${killMs.toFixed(0)} ms`);
});

test('a ping that never settles and ignores its signal still fails the peer, with bounded outstanding probes', async (t) => {
  let calls = 0;
  const prober = new PeerHealthProber({
    intervalMs: 20,
    timeoutMs: 60,
    rise: 1,
    fall: 3,
    ping: () => {
      calls++;
      return new Promise<number>(() => undefined);
    },
  });
  t.after(() => prober.close());
  prober.setPeers([{ key: 'p', cluster: 'c' }]);
  prober.start();
  await waitFor('unhealthy', () => !prober.isHealthy('p'), 10_000);
  await waitFor('many ticks', () => (prober.state()[0]?.probes ?? 0) >= 20, 10_000);
  assert.ok(calls <= 4, `pings outstanding at once are capped (ceil(60/20) + 1 = 4), made ${calls}`);
  assert.match(prober.state()[0]?.lastError ?? '', /probes unanswered|no answer to PING/);
});

test('removed peers are forgotten and their probes in flight aborted; unknown peers count healthy', async (t) => {
  const aborted: string[] = [];
  const prober = new PeerHealthProber({
    ...PROBE,
    ping: (peer, signal) =>
      new Promise<number>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted.push(peer.key);
          reject(new Error('aborted'));
        });
      }),
  });
  t.after(() => prober.close());
  prober.setPeers([
    { key: 'a', cluster: 'c1' },
    { key: 'b', cluster: 'c1' },
  ]);
  prober.start();
  await waitFor('probes in flight', () => prober.state().every((p) => p.outstanding === 1), 10_000);
  prober.setPeers([{ key: 'b', cluster: 'c1' }]);
  assert.deepEqual(aborted, ['a']);
  assert.deepEqual(
    prober.state().map((p) => p.key),
    ['b'],
  );
  assert.equal(prober.isHealthy('a'), true, 'unknown to the prober');
});

test('a peer is "refused" only when the probe that took it down was a refused connection', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  // First probe: a refused connection; every later one: no answer (a frozen peer behind it).
  let calls = 0;
  const ping = () =>
    ++calls === 1
      ? Promise.reject(new Error('peer: connect failed', { cause: refused }))
      : new Promise<number>(() => undefined);
  const prober = new PeerHealthProber({ intervalMs: 20, timeoutMs: 50, rise: 2, fall: 2, ping });
  t.after(() => prober.close());
  const changes: PeerHealthChange[] = [];
  prober.subscribe((change) => changes.push(change));
  prober.setPeers([{ key: 'gcp-euw1/gw', cluster: 'gcp-euw1' }]);
  prober.start();
  await waitFor('the peer marked down', () => changes.length > 0, 5_000);
  assert.equal(changes[0]?.healthy, false);
  assert.equal(changes[0]?.refused, false, 'the last failure was a timeout: its connections are dropped');
});

test("a cluster's probe error is what the probe that took a gateway down failed with", async (t) => {
  // gw-2's first probes are refused; once it is down, the transport drops its connection and later
  // probes fail with that drop, which says nothing about why.
  let gw2Probes = 0;
  const ping: PeerPing = (peer) => {
    if (peer.key !== 'gcp-euw1/gw-2') return Promise.resolve(1);
    const error =
      ++gw2Probes <= 2 ? 'connect ECONNREFUSED 127.0.2.2:15443' : 'gw-2: stopped answering probes';
    return Promise.reject(new Error(error));
  };
  const prober = new PeerHealthProber({ intervalMs: 20, timeoutMs: 50, rise: 2, fall: 2, ping });
  t.after(() => prober.close());
  prober.setPeers([
    { key: 'gcp-euw1/gw-1', cluster: 'gcp-euw1' },
    { key: 'gcp-euw1/gw-2', cluster: 'gcp-euw1' },
    { key: 'azure-weu/gw-1', cluster: 'azure-weu' },
  ]);
  assert.equal(prober.clusterProbeError('gcp-euw1'), undefined, 'nothing probed yet');
  prober.start();
  const gw2 = () => prober.state().find((p) => p.key === 'gcp-euw1/gw-2');
  await waitFor(
    'a later probe of gw-2 failed with the drop',
    () => gw2()?.lastError?.includes('stopped') === true,
    5_000,
  );
  assert.equal(gw2()?.healthy, false);
  assert.equal(prober.clusterProbeError('gcp-euw1'), 'connect ECONNREFUSED 127.0.2.2:15443');
  assert.equal(prober.clusterProbeError('azure-weu'), undefined, 'its gateway answers');
  assert.equal(prober.clusterProbeError('aws-use1'), undefined, 'no gateway known');
});

test('an answer that arrived while the event loop was stalled counts, though the timeout timer runs first', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-peer-stall-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createFabricPki(dir, { trustDomain: TRUST_DOMAIN, clusters: ['aws-use1', 'gcp-euw1'] });
  const { child, port } = await startPeer(pki.pathsOf('gcp-euw1'));
  t.after(() => child.kill('SIGKILL'));
  const own = pki.pathsOf('aws-use1');
  const pinger = sessionPinger(
    { ca: await readFile(own.ca), cert: await readFile(own.cert), key: await readFile(own.key) },
    port,
  );
  t.after(() => pinger.close());
  const peer = { key: 'gcp-euw1/gw', cluster: 'gcp-euw1' };
  await pinger.ping(peer, new AbortController().signal);

  const timeoutMs = 200;
  // The first probe's PING leaves, then this process stalls for three timeouts: the peer's answer waits
  // in the socket, and when the loop turns again its timers run before it reads the socket.
  let stalled = false;
  const ping: PeerPing = (target, signal) => {
    const answer = pinger.ping(target, signal);
    if (!stalled) {
      stalled = true;
      setImmediate(() => {
        const until = performance.now() + 3 * timeoutMs;
        while (performance.now() < until);
      });
    }
    return answer;
  };
  const prober = new PeerHealthProber({ intervalMs: 60_000, timeoutMs, rise: 1, fall: 1, ping });
  t.after(() => prober.close());
  const changes: PeerHealthChange[] = [];
  prober.subscribe((change) => changes.push(change));
  prober.setPeers([peer]);
  prober.start();
  await waitFor('the first probe settled', () => prober.state()[0]?.outstanding === 0, 10_000);
  assert.ok(stalled);
  assert.deepEqual(changes, []);
  assert.equal(prober.state()[0]?.consecutiveFailures, 0, prober.state()[0]?.lastError);
  assert.ok((prober.state()[0]?.lastRttMs ?? 0) >= 3 * timeoutMs, 'the stall is in the measured RTT');
});

test('a peer coming back is usable once `rise` probes in a row answered, not at the first', async (t) => {
  // One probe a second: the state between two probes holds long enough to look at on a busy machine.
  const answers: boolean[] = [false];
  const prober = new PeerHealthProber({
    intervalMs: 1_000,
    timeoutMs: 500,
    rise: 2,
    fall: 1,
    ping: () => ((answers.shift() ?? true) ? Promise.resolve(1) : Promise.reject(new Error('no answer'))),
  });
  t.after(() => prober.close());
  prober.setPeers([{ key: 'p', cluster: 'c' }]);
  assert.equal(prober.isUsable('p'), true, 'unknown: usable');
  prober.start();
  await waitFor('out after a failed probe', () => !prober.isHealthy('p'), 5_000);
  assert.equal(prober.isUsable('p'), false);
  await waitFor('one probe answered', () => (prober.state()[0]?.consecutiveSuccesses ?? 0) === 1, 5_000);
  assert.equal(prober.isUsable('p'), false, 'one answer after an outage is not enough (rise 2)');
  await waitFor('healthy again', () => prober.isHealthy('p'), 5_000);
  assert.equal(prober.isUsable('p'), true);
});
