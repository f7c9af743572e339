// Fault tests with real gateway processes: hello has two local endpoints and one of them answers 503 to
// every other request. With the defaults, failure-percentage outlier detection ejects it (it never fails
// 5 times in a row), its 503s are retried on the good endpoint so the client sees none, and the requests
// reaching the upstreams stay within the retry budget. With ejection switched off and no minimum
// allowance, the budget alone caps the extra load at 20% and the 503s it refuses to retry reach the client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FailoverFabric,
  SteadyClient,
  type CallResult,
  type HelloInstance,
} from './helpers/failover-fabric.js';
import { waitFor } from './helpers/wait.js';

/** The client's requests per test: 6 s at one GET every 20 ms, inside one 10 s budget window. */
const REQUESTS = 300;

function instancesOf(fabric: FailoverFabric): { bad: HelloInstance; good: HelloInstance } {
  const [bad, good] = fabric.instances.get('a') ?? [];
  assert.ok(bad && good);
  return { bad, good };
}

/**
 * Sends REQUESTS through gateway a (running `during` meanwhile, its result is `at`), then counts: the
 * client's requests and failures, the requests that reached either upstream, and a's retries.
 */
async function run(
  fabric: FailoverFabric,
  during?: () => Promise<number>,
): Promise<{
  startedAt: number;
  at: number | undefined;
  sent: number;
  failed: CallResult[];
  upstream: number;
  retries: number;
}> {
  const client = new SteadyClient(fabric.gateway('a').outbound);
  const startedAt = Date.now();
  client.start();
  let at: number | undefined;
  try {
    if (during) at = await during();
    await waitFor(`${REQUESTS} answers`, () => client.results.length >= REQUESTS, 30_000);
  } finally {
    await client.stop();
  }
  const { bad, good } = instancesOf(fabric);
  return {
    startedAt,
    at,
    sent: client.results.length,
    failed: client.failures(),
    upstream: bad.received + good.received,
    retries: await fabric.metric('a', 'weft_retries_total', { service: 'hello.default' }),
  };
}

describe('an endpoint answering 503 every other request, default settings', () => {
  let fabric: FailoverFabric;
  before(async () => {
    fabric = await FailoverFabric.start(
      [{ name: 'a', host: '127.0.61.1', cloud: 'aws', region: 'us-east-1', instances: 2, flakyInstances: 1 }],
      {},
    );
  });
  after(() => fabric?.close());

  test(
    'is ejected; its 503s are retried on the good endpoint; upstream load stays within the budget',
    { timeout: 90_000 },
    async () => {
      const { bad, good } = instancesOf(fabric);
      let badBeforeEjection = 0;
      const { startedAt, at, sent, failed, upstream, retries } = await run(fabric, async () => {
        await waitFor(
          'the flaky endpoint to leave the route (admin API)',
          async () => !(await fabric.helloRoute('a')).local.includes(bad.address),
          15_000,
        );
        const ejectedAt = Date.now();
        badBeforeEjection = bad.received;
        return ejectedAt;
      });
      const ejections = await fabric.metric('a', 'weft_outlier_ejections_total', {
        scope: 'endpoint',
        group: 'hello.default',
        reason: 'failure-percentage',
      });
      // Default budget: 20% of the requests in a 10 s window, plus 10 retries/s over that window.
      const bound = sent * 1.2 + 10 * 10;
      console.log(
        `flaky endpoint: ejected ${(at ?? 0) - startedAt} ms after the client started (it had answered ${badBeforeEjection}, half of them 503), ${ejections} ejection(s); client ${sent} requests, ${failed.length} failed; upstreams got ${upstream} = ${(upstream / sent).toFixed(3)} × the client's (${retries} retries; budget bound ${bound}); bad ${bad.received}, good ${good.received}`,
      );
      assert.ok(ejections >= 1, 'ejected for its failure percentage (metrics)');
      assert.ok(
        failed.length <= sent / 100,
        `${failed.length} failed: ${JSON.stringify(failed.slice(0, 3))}`,
      );
      assert.equal(upstream, sent + retries, 'every request reached an upstream once, plus its retries');
      assert.ok(upstream <= bound, `${upstream} upstream requests for ${sent} client requests`);
      assert.ok(bad.received < good.received / 2, 'the flaky endpoint got far less than half the traffic');
    },
  );
});

describe('the same endpoint with ejection off and no minimum retry allowance', () => {
  let fabric: FailoverFabric;
  before(async () => {
    fabric = await FailoverFabric.start(
      [{ name: 'a', host: '127.0.62.1', cloud: 'aws', region: 'us-east-1', instances: 2, flakyInstances: 1 }],
      {
        outlierDetection: { consecutive5xx: 1_000_000, failurePercentage: { threshold: 0 } },
        retryBudget: { ratio: 0.2, minRetriesPerSecond: 0, window: '10s' },
      },
    );
  });
  after(() => fabric?.close());

  test(
    'the retry budget caps the extra load at 20%; the 503s it does not retry reach the client',
    {
      timeout: 90_000,
    },
    async () => {
      const { sent, failed, upstream, retries } = await run(fabric);
      const refused = await fabric.metric('a', 'weft_requests_refused_total', {
        service: 'hello.default',
        by: 'retry-budget',
      });
      const wanted = retries + refused;
      console.log(
        `retry budget (20%, no minimum): client ${sent} requests; ${wanted} 503s wanted a retry (${((100 * wanted) / sent).toFixed(1)}%), ${retries} allowed, ${refused} refused → ${failed.length} failed; upstreams got ${upstream} = ${(upstream / sent).toFixed(3)} × the client's`,
      );
      assert.ok(refused > 0, 'the budget refused retries (the flaky endpoint wants more than 20%)');
      assert.equal(failed.length, refused, 'exactly the refused retries reached the client as 503');
      assert.equal(upstream, sent + retries);
      assert.ok(retries <= 0.2 * sent, `${retries} retries for ${sent} requests`);
    },
  );
});
