// Failure promises with real gateway processes: a remote cloud's gateway SIGKILLed or frozen (SIGSTOP)
// stops getting new requests within 2 s and no idempotent request fails; when it comes back, traffic
// returns only after the hold-down, gradually. A client sends GET every 20 ms through gateway a; hello
// runs in b (same region as a: preferred) and c (another cloud). Detection time = from the fault until
// a's failover decision gives b no share.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runFaultDrill } from './helpers/failover-drill.js';
import { FailoverFabric, SteadyClient } from './helpers/failover-fabric.js';
import { waitFor, within } from './helpers/wait.js';

const HOLD_DOWN_MS = 2_000;
const RAMP_MS = 2_000;
let fabric: FailoverFabric;

interface FabricEventsBody {
  events: {
    at: number;
    kind: string;
    service?: string;
    cluster?: string;
    from?: string;
    to?: string;
    reason: string;
    observers: string[];
  }[];
}

/** Gateway a's newest fabric event of `kind` for hello.default, as its dashboard shows it. */
function helloEvent(kind: 'failover' | 'failback') {
  return within(`a's ${kind} event for hello.default`, 5000, async () => {
    const { events } = await fabric.admin<FabricEventsBody>('a', '/api/v1/fabric');
    return events.find((e) => e.kind === kind && e.service === 'hello.default');
  });
}

before(async () => {
  fabric = await FailoverFabric.start(
    [
      { name: 'a', host: '127.0.21.1', cloud: 'aws', region: 'us-east-1', instances: 0 },
      { name: 'b', host: '127.0.22.1', cloud: 'aws', region: 'us-east-1', instances: 1 },
      { name: 'c', host: '127.0.23.1', cloud: 'gcp', region: 'europe-west1', instances: 1 },
    ],
    { holdDown: `${HOLD_DOWN_MS}ms`, failbackRamp: `${RAMP_MS}ms` },
  );
});

after(async () => {
  await fabric?.close();
});

test(
  'a SIGKILLed remote gateway is out within 2 s; no idempotent request fails',
  { timeout: 60_000 },
  async () => {
    const { client, faultAt, detectedAt } = await runFaultDrill(fabric, {
      servedBefore: 'b',
      warmUpMs: 20_000,
      fault: () => fabric.gateway('b').process.killAndWait(),
      dropped: 'b',
      servedAfter: 'c',
    });
    const failed = client.failures();
    const detectionMs = detectedAt - faultAt;
    console.log(
      `SIGKILL: detection ${detectionMs} ms, failed ${failed.length} of ${client.results.length}`,
      failed.slice(0, 3),
    );
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
    assert.ok(detectionMs <= 2_000, `detected after ${detectionMs} ms`);
    assert.equal(client.servedBy('b', detectedAt + 50).length, 0, 'b served requests sent after detection');
    // The failover policy's decision, as a's dashboard and stats record show it.
    const failover = await helloEvent('failover');
    assert.deepEqual([failover.cluster, failover.from, failover.to], ['b', 'b', 'c']);
    console.log(`SIGKILL: failover reason: ${failover.reason}`);
    // With what its probes failed (a refused connection, or the connection the kill closed); or, when
    // requests failing against b reach outlier detection's threshold before the probes do, that.
    assert.match(
      failover.reason,
      /^(no gateway of b answers probes \(.+\)|b ejected for hello\.default by outlier detection \(consecutive failures\)); traffic moves to c$/,
    );
    assert.ok(
      failover.observers.some((o) => o.startsWith('a/')),
      failover.observers.join(),
    );
  },
);

test(
  'the killed gateway comes back: traffic returns after the hold-down, gradually',
  { timeout: 60_000 },
  async () => {
    const client = new SteadyClient(fabric.gateway('a').outbound);
    client.start();
    const at = { ready: 0 };
    try {
      await client.waitServedBy('c', 10, 0, 10_000);
      await fabric.gateway('b').process.start(30_000);
      at.ready = Date.now();
      await client.waitServedBy('b', 30, at.ready, 20_000);
      await waitFor(
        'b to take all traffic back',
        async () => (await fabric.shares('a')).get('b') === 1,
        15_000,
      );
    } finally {
      await client.stop();
    }
    const firstB = client.servedBy('b', at.ready)[0]?.sentAt ?? 0;
    const returnMs = firstB - at.ready;
    // Share of b per 500 ms window from its first request on: rising, not a step.
    const windows: number[] = [];
    const lastSent = client.results.at(-1)?.sentAt ?? firstB;
    for (let t = firstB; t + 500 <= Math.min(lastSent, firstB + RAMP_MS + 1000); t += 500) {
      const inWindow = client.results.filter((r) => r.sentAt >= t && r.sentAt < t + 500 && r.status === 200);
      windows.push(inWindow.length ? inWindow.filter((r) => r.servedBy === 'b').length / inWindow.length : 0);
    }
    const failed = client.failures();
    console.log(
      `failback: first request to b ${returnMs} ms after it was ready; b share per 500 ms: ${windows.map((w) => w.toFixed(2)).join(' ')}; failed ${failed.length}`,
    );
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
    // The hold-down starts when a sees b answer probes again (after readiness + one probe interval).
    assert.ok(returnMs >= HOLD_DOWN_MS - 300, `b got traffic back ${returnMs} ms after it was ready`);
    assert.ok((windows[0] ?? 1) < 0.6, `first window already ${windows[0]}: not gradual`);
    const failback = await helloEvent('failback');
    assert.deepEqual([failback.cluster, failback.from, failback.to], ['b', 'c', 'b']);
    assert.match(failback.reason, /^b healthy again for \d+ ms; hold-down 2000 ms passed/);
  },
);

test(
  'a frozen (SIGSTOP) remote gateway is out within 2 s; in-flight requests are retried elsewhere',
  { timeout: 60_000 },
  async () => {
    const b = fabric.gateway('b').process;
    const { client, faultAt, detectedAt } = await runFaultDrill(fabric, {
      servedBefore: 'b',
      warmUpMs: 30_000,
      fault: () => b.freeze(),
      dropped: 'b',
      servedAfter: 'c',
      restore: () => b.thaw(),
    });
    const failed = client.failures();
    const failover = await helloEvent('failover');
    // A frozen gateway is out 1.0–1.5 s after the freeze (a probe times out after 1 s, fall 2, probes every
    // 250 ms). Measured to the instant a decided, from its event, not to when the test's polling of a's
    // admin API first saw the decision.
    const decisionMs = failover.at - faultAt;
    const slow = client.results.filter((r) => r.sentAt >= faultAt && r.doneAt - r.sentAt > 500);
    const longestMs = Math.max(0, ...slow.map((r) => r.doneAt - r.sentAt));
    console.log(
      `SIGSTOP: a decided ${decisionMs} ms after the freeze (the test saw it after ${detectedAt - faultAt} ms), failed ${failed.length} of ${client.results.length}, ${slow.length} requests waited > 500 ms (in flight during the freeze, retried), the longest ${longestMs} ms`,
    );
    assert.equal(failed.length, 0, JSON.stringify(failed.slice(0, 5)));
    assert.ok(decisionMs <= 2_000, `a decided ${decisionMs} ms after the freeze`);
    // Retried once the peer is judged dead (within 2 s), not after a connect timeout spent on it again.
    assert.ok(longestMs <= 3_000, `a request in flight during the freeze took ${longestMs} ms`);
    // The reason says what the probes that took the frozen gateway down failed with.
    assert.match(
      failover.reason,
      /^no gateway of b answers probes \(no answer to PING within \d+ ms\); traffic moves to c$/,
    );
  },
);
