// Retries of requests with a body, with a real gateway process: hello has two local endpoints, one
// answering 503 to every other request (ejection off, so it stays in rotation). A PUT with a body up to
// 64 KiB is kept whole and sent again on the good endpoint, arriving intact; a POST is not retried after
// a 503 (not idempotent) and a PUT over the replay limit streams once and is not retried either. A chunked
// PUT (no Content-Length) within the limit is kept while it streams and retried whole.
import { after, before, test } from 'node:test';
import { Readable } from 'node:stream';
import assert from 'node:assert/strict';
import { FailoverFabric } from './helpers/failover-fabric.js';
import { httpCall, type HttpAnswer } from './helpers/http-call.js';
import { patternBytes, sha256 } from './helpers/sample-upstreams.js';

let fabric: FailoverFabric;

before(async () => {
  fabric = await FailoverFabric.start(
    [{ name: 'a', host: '127.0.91.1', cloud: 'aws', region: 'us-east-1', instances: 2, flakyInstances: 1 }],
    { outlierDetection: { consecutive5xx: 1_000_000, failurePercentage: { threshold: 0 } } },
  );
});

after(() => fabric?.close());

/** `count` requests one after another, each with `body` (chunked, without Content-Length, if `chunked`). */
async function send(method: string, body: Buffer, count: number, chunked = false): Promise<HttpAnswer[]> {
  const { host, port } = fabric.gateway('a').outbound;
  const answers: HttpAnswer[] = [];
  for (let i = 0; i < count; i++) {
    const sent = chunked ? Readable.from([body.subarray(0, 4096), body.subarray(4096)]) : body;
    answers.push(
      await httpCall(`http://${host}:${port}/`, { method, headers: { host: 'hello' }, body: sent }),
    );
  }
  return answers;
}

const retries = () => fabric.metric('a', 'weft_retries_total', { service: 'hello.default' });

test(
  'a PUT with a small body is retried on the good endpoint with the same bytes',
  { timeout: 60_000 },
  async () => {
    const body = patternBytes(10_000);
    const before = await retries();
    const answers = await send('PUT', body, 40);
    const retried = (await retries()) - before;
    console.log(
      `PUT 10 kB × 40: ${answers.filter((a) => a.status === 200).length} answered 200 after ${retried} retries`,
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      Array.from({ length: 40 }, () => 200),
    );
    for (const answer of answers) assert.equal(answer.headers['x-body-sha256'], sha256(body));
    assert.ok(retried >= 5, `${retried} retries: the flaky endpoint's 503s were retried`);
  },
);

test(
  'a chunked PUT within 64 KiB is kept while it streams and retried whole, framed by its length',
  { timeout: 60_000 },
  async () => {
    const body = patternBytes(20_000);
    const before = await retries();
    const answers = await send('PUT', body, 40, true);
    const retried = (await retries()) - before;
    console.log(
      `chunked PUT 20 kB × 40: ${answers.filter((a) => a.status === 200).length} answered 200 after ${retried} retries`,
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      Array.from({ length: 40 }, () => 200),
    );
    for (const answer of answers) assert.equal(answer.headers['x-body-sha256'], sha256(body));
    assert.ok(retried >= 5, `${retried} retries: the flaky endpoint's 503s were retried`);
  },
);

test(
  'a POST is not retried after a 503, and a PUT over 64 KiB streams once without a retry',
  { timeout: 60_000 },
  async () => {
    const posts = await send('POST', patternBytes(10_000), 40);
    const before = await retries();
    const large = patternBytes(100_000);
    const puts = await send('PUT', large, 20);
    const retried = (await retries()) - before;
    const failedPosts = posts.filter((a) => a.status === 503).length;
    const failedPuts = puts.filter((a) => a.status === 503).length;
    console.log(
      `POST 10 kB × 40: ${failedPosts} × 503 reached the caller; PUT 100 kB × 20: ${failedPuts} × 503, ${retried} retries`,
    );
    assert.ok(failedPosts > 0, 'a POST is not idempotent: its 503 reaches the caller');
    assert.ok(failedPuts > 0, 'a body over the replay limit is not kept: its 503 reaches the caller');
    assert.equal(retried, 0);
    for (const answer of puts.filter((a) => a.status === 200))
      assert.equal(answer.headers['x-body-sha256'], sha256(large));
  },
);
