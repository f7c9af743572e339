// The load generators' output parsers, on output captured from the Debian builds the benchmark uses
// (wrk 4.1.0, h2load 1.52.0, iperf3 3.12, hey 0.1.4): figures are read, and failed requests are counted
// so a chain that answers errors quickly cannot look fast.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseH2load, parseHey, parseIperf3, parseWrk } from './tool-output.js';

const WRK_OK = `Running 1s test @ http://127.0.2.10:18080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.60ms   10.45ms  76.80ms   95.14%
    Req/Sec    20.91k     6.51k   27.24k    90.91%
  22851 requests in 1.10s, 27.52MB read
Requests/sec:  20758.80
Transfer/sec:     25.00MB
`;

const WRK_404 = `Running 1s test @ http://127.0.2.10:18080/missing
  1 threads and 4 connections
  24674 requests in 1.01s, 7.25MB read
  Socket errors: connect 0, read 4, write 0, timeout 2
  Non-2xx or 3xx responses: 24674
Requests/sec:  24474.51
Transfer/sec:      7.19MB
`;

const H2LOAD_OK = `Application protocol: h2c

finished in 35.70ms, 5602.71 req/s, 6.38MB/s
requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx
`;

const H2LOAD_502 = `finished in 8.00s, 1000.00 req/s, 1.00MB/s
requests: 8000 total, 8000 started, 8000 done, 8000 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 6000 2xx, 0 3xx, 0 4xx, 2000 5xx
`;

const H2LOAD_REFUSED = `finished in 2.85ms, 0.00 req/s, 105.73KB/s
requests: 20 total, 1 started, 0 done, 0 succeeded, 20 failed, 20 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx
`;

const HEY = `Summary:
  Total:	10.0131 secs
  Requests/sec:	1004.8473

Latency distribution:
  10% in 0.0002 secs
  50% in 0.0003 secs
  99% in 0.0021 secs

Status code distribution:
  [200]	10000 responses
  [502]	12 responses

Error distribution:
  [3]	Get "http://127.0.1.1:4140/": dial tcp 127.0.1.1:4140: connect: connection refused
`;

test('wrk: requests per second; bad statuses and socket errors count as errors', () => {
  assert.deepEqual(parseWrk(WRK_OK), { requestsPerSecond: 20758.8, requests: 22851, errors: 0 });
  assert.equal(parseWrk(WRK_404).errors, 24674 + 4 + 2);
});

test('h2load: 4xx/5xx answers are errors and leave the rate of good requests', () => {
  assert.deepEqual(parseH2load(H2LOAD_OK), { requestsPerSecond: 5602.71, requests: 200, errors: 0 });
  assert.deepEqual(parseH2load(H2LOAD_502), { requestsPerSecond: 750, requests: 6000, errors: 2000 });
  assert.deepEqual(parseH2load(H2LOAD_REFUSED), { requestsPerSecond: 0, requests: 0, errors: 20 });
});

test('hey: p50 and p99 in ms; bad statuses and transport errors count as errors', () => {
  const r = parseHey(HEY);
  assert.equal(r.p50Ms, 0.3);
  assert.equal(r.p99Ms, 2.1);
  assert.equal(r.requests, 10000);
  assert.equal(r.errors, 15);
  assert.equal(r.requestsPerSecond, 1004.8473);
});

test('iperf3: receiver bits per second; its own error is reported', () => {
  const ok = JSON.stringify({ start: {}, intervals: [], end: { sum_received: { bits_per_second: 3.5e9 } } });
  assert.deepEqual(parseIperf3(ok), { bitsPerSecond: 3.5e9 });
  const refused = JSON.stringify({ start: {}, intervals: [], end: {}, error: 'unable to connect to server' });
  assert.throws(() => parseIperf3(refused), /iperf3: unable to connect to server/);
});

test('output of an unexpected shape fails loudly, quoting it', () => {
  assert.throws(
    () => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'),
    /wrk: cannot find Requests\/sec/,
  );
  assert.throws(() => parseH2load('no output'), /h2load: cannot find req\/s/);
  assert.throws(() => parseHey('Latency distribution:\n  0% in 0.0000 secs\n'), /hey: cannot find/);
  assert.throws(() => parseIperf3('not json'), /iperf3: cannot find a JSON document/);
});
