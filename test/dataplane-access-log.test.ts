// Sampled JSON access logs from real data planes: gateway a logs every request (rate 1), b half of what
// it serves (rate 0.5), c nothing (rate 0, the default). One line per finished request or tunnel at the
// outbound, peer and tcp listeners, with the trace id, clusters, service, status, duration, upstream
// and error code; b's line carries the same traceparent its upstream received.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpRoundTrip } from '../gateway/demo/demo-calls.js';
import { parseTraceparent } from '../gateway/observability/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { within } from './helpers/wait.js';
import { httpCall } from './helpers/http-call.js';
import {
  patternBytes,
  startHttpUpstream,
  startTcpEcho,
  type HttpUpstream,
  type SampleServer,
} from './helpers/sample-upstreams.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_TRACEPARENT = `00-${CALLER_TRACE}-00f067aa0ba902b7-01`;

describe('data plane: sampled access logs', () => {
  let fabric: TestFabric;
  let hello: HttpUpstream;
  let db: SampleServer;

  before(async () => {
    hello = await startHttpUpstream('127.0.2.40', 'hello@b');
    db = await startTcpEcho('127.0.2.41');
    fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.1.1',
        tcp: [{ service: 'db.default' }],
        observability: { accessLogSampleRate: 1 },
      },
      {
        cluster: 'b',
        host: '127.0.2.1',
        services: [
          { name: 'hello', endpoints: [hello.endpoint] },
          { name: 'db', protocol: 'tcp', endpoints: [db.endpoint] },
        ],
        observability: { accessLogSampleRate: 0.5 },
      },
      { cluster: 'c', host: '127.0.3.1' },
    ]);
  });

  after(async () => {
    await fabric?.close();
    await hello?.close();
    await db?.close();
  });

  test('rate 1 logs every request and tunnel with its fields; 0.5 logs exactly half; 0 logs none', async () => {
    const a = fabric.gateway('a');
    const b = fabric.gateway('b');
    const c = fabric.gateway('c');

    // From a: 10 bodyless GETs (fast path, lanes), one POST with a body (an HTTP/2 stream to b), one
    // unknown name, one TCP tunnel. From c: 8 GETs. b serves 10 + 1 + 1 tunnel + 8 = 20.
    for (let i = 0; i < 10; i++) {
      const answer = await httpCall(`${a.outboundUrl}/whoami?i=${i}`, {
        headers: { host: 'hello', traceparent: CALLER_TRACEPARENT },
      });
      assert.equal(answer.status, 200);
    }
    const posted = await httpCall(`${a.outboundUrl}/echo`, {
      method: 'POST',
      headers: { host: 'hello.default.svc.clusterset.local', 'content-length': 3 },
      body: Buffer.from('abc'),
    });
    assert.equal(posted.status, 200);
    const unknown = await httpCall(`${a.outboundUrl}/`, { headers: { host: 'nothing.default' } });
    assert.equal(unknown.status, 404);
    const payload = patternBytes(10_000);
    assert.deepEqual(await tcpRoundTrip(a.host, a.tcpPort('db.default'), payload), payload);
    for (let i = 0; i < 8; i++) {
      const answer = await httpCall(`${c.outboundUrl}/whoami`, { headers: { host: 'hello' } });
      assert.equal(answer.status, 200);
    }

    const aLines = await within('a to log 13 lines', 5000, () =>
      a.accessLog.length >= 13 ? a.accessLog : undefined,
    );
    const bLines = await within('b to log 10 lines', 5000, () =>
      b.accessLog.length >= 10 ? b.accessLog : undefined,
    );
    console.log(`access log lines: a ${aLines.length} (rate 1), b ${bLines.length} of 20 (rate 0.5)`);
    assert.equal(aLines.length, 13, 'rate 1: one line per request and tunnel');
    assert.equal(bLines.length, 10, 'rate 0.5: exactly half of the 20 b served');
    assert.equal(c.accessLog.length, 0, 'rate 0: no lines');

    for (const line of [...aLines, ...bLines]) {
      assert.equal(line.msg, 'access');
      assert.equal(line.component, 'access');
      assert.equal(typeof line.durationMs, 'number');
      assert.ok((line.durationMs as number) >= 0);
    }

    const gets = aLines.filter(
      (l) => l.listener === 'outbound' && l.path !== undefined && l.method === 'GET',
    );
    const first = gets.find((l) => l.status === 200);
    assert.ok(first, 'a logged its GETs');
    assert.equal(first.source, 'a');
    assert.equal(first.service, 'hello.default');
    assert.equal(first.destination, 'b');
    assert.equal(first.authority, 'hello');
    assert.match(String(first.path), /^\/whoami\?i=\d$/);
    assert.match(String(first.upstream), /^b\/gw-1@127\.0\.2\.1:\d+$/, 'the peer gateway that answered');
    assert.equal(first.traceId, CALLER_TRACE, "the caller's trace id");
    const forwarded = parseTraceparent(String(first.traceparent));
    assert.equal(forwarded?.traceId, CALLER_TRACE);
    assert.notEqual(forwarded?.parentId, '00f067aa0ba902b7', "a's own span id, not the caller's");

    const noRoute = aLines.find((l) => l.status === 404);
    assert.equal(noRoute?.service, '(unknown)');
    assert.equal(noRoute?.destination, '(none)');
    assert.equal(noRoute?.error, 'NO_ROUTE');
    assert.equal(noRoute?.authority, 'nothing.default');

    const tunnel = aLines.find((l) => l.listener === 'tcp');
    assert.equal(tunnel?.service, 'db.default');
    assert.equal(tunnel?.destination, 'b');
    assert.equal(tunnel?.status, 200);
    assert.equal(tunnel?.traceparent, undefined, 'opaque TCP carries no trace');

    const post = aLines.find((l) => l.method === 'POST');
    assert.equal(post?.status, 200);
    assert.equal(post?.destination, 'b');

    // b logs as the serving side: the caller's cluster as source, its own endpoint as upstream, and
    // the traceparent it sent to that endpoint.
    const seen = new Set(hello.seen.map((s) => String(s.headers.traceparent)));
    for (const line of bLines) {
      assert.equal(line.listener, 'peer');
      assert.ok(line.source === 'a' || line.source === 'c', `source ${String(line.source)}`);
      assert.equal(line.destination, 'b');
      if (line.service === 'hello.default') {
        assert.equal(line.upstream, hello.endpoint);
        assert.ok(seen.has(String(line.traceparent)), 'the upstream received the logged traceparent');
      } else {
        assert.equal(line.service, 'db.default');
        assert.equal(line.upstream, db.endpoint);
      }
    }
  });
});
