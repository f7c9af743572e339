// Rolling restart under load: cluster a sends non-idempotent bodyless POSTs (they ride lanes and are
// never retried once sent) to hello, exported by b and c, while b's gateway is stopped with SIGTERM.
// No call may fail: b leaves the fabric, then drains, and a request a had already put on one of b's
// lanes must be answered, not dropped; also when b reads those lanes with Node's parser.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { FailoverFabric } from './helpers/failover-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { waitFor } from './helpers/wait.js';

let fabric: FailoverFabric;

before(async () => {
  fabric = await FailoverFabric.start(
    [
      { name: 'a', host: '127.0.94.1', cloud: 'aws', region: 'us-east-1', instances: 0 },
      { name: 'b', host: '127.0.94.2', cloud: 'gcp', region: 'europe-west1', instances: 2 },
      { name: 'c', host: '127.0.94.3', cloud: 'azure', region: 'westeurope', instances: 2 },
    ],
    // Half of a's calls to each of b and c (by RTT alone, one of them could get them all).
    { priorities: { b: 0, c: 0 }, weights: { b: 50, c: 50 } },
  );
});

after(() => fabric?.close());

/**
 * 16 callers POST to hello through a while b is stopped; no call may fail. `headers`: extra fields on
 * each call (over 100 make b read those lanes with Node's parser instead of its fast path).
 */
async function rollingRestartFailsNoCall(headers: Record<string, string>): Promise<void> {
  const { host, port } = fabric.gateway('a').outbound;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let running = true;
  const failures: string[] = [];
  let calls = 0;
  const servedBy = new Map<string, number>();
  /** One call: who served it, or why it failed. */
  const call = async (): Promise<{ by: string } | { failure: string }> => {
    try {
      const answer = await httpCall(`http://${host}:${port}/`, {
        method: 'POST',
        headers: { host: 'hello', ...headers },
        agent,
      });
      if (answer.status === 200) return { by: String(answer.headers['x-served-by']) };
      return { failure: `${answer.status} ${answer.body.toString().trim()}` };
    } catch (err) {
      return { failure: (err as Error).message };
    }
  };
  const loop = async () => {
    while (running) {
      const outcome = await call();
      calls++;
      if ('failure' in outcome) failures.push(outcome.failure);
      else servedBy.set(outcome.by, (servedBy.get(outcome.by) ?? 0) + 1);
    }
  };
  const loops = Array.from({ length: 16 }, loop);
  await waitFor('b serving', () => (servedBy.get('b') ?? 0) > 200, 20_000).catch((err: Error) => {
    throw new Error(
      `${err.message}: ${calls} calls, served by ${JSON.stringify([...servedBy])}, failures ${JSON.stringify(failures.slice(0, 5))}`,
    );
  });
  await fabric.gateway('b').process.stop();
  const after = calls;
  await waitFor('500 more calls', () => calls > after + 500, 20_000);
  running = false;
  await Promise.all(loops);
  agent.destroy();
  console.log(`${calls} calls, ${failures.length} failed; served by ${JSON.stringify([...servedBy])}`);
  assert.deepEqual(failures, []);
}

test('SIGTERM of a serving gateway under load fails no call', { timeout: 120_000 }, async () => {
  await rollingRestartFailsNoCall({});
});

test(
  'the same when b reads its lanes with Node’s parser (heads of over 100 fields)',
  { timeout: 120_000 },
  async () => {
    await fabric.gateway('b').process.start(30_000);
    const many = Object.fromEntries(Array.from({ length: 110 }, (_, i) => [`x-field-${i}`, String(i)]));
    await rollingRestartFailsNoCall(many);
  },
);
