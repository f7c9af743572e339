// W3C traceparent across two real gateways, and OTLP span export. With the default config (no tracing)
// the upstream in cluster b sees the caller's trace id with a new parent-id, or a fresh valid traceparent
// when the caller sent none or garbage, on every HTTP path (fast path and lanes, bodies on HTTP/2
// streams, h2c callers, a local service). With `observability.tracing` both gateways export one span
// per request to an OTLP/HTTP receiver (a plain node:http server here, JSON encoding): a's CLIENT span
// is the child of the caller's span, b's SERVER span the child of a's, and the upstream's parent is b's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { parseTraceparent, type TraceContext } from '../gateway/observability/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { waitFor } from './helpers/wait.js';
import { httpCall } from './helpers/http-call.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const sampledBy = (trace: string) => `00-${trace}-${CALLER_SPAN}-01`;

/** The traceparent the upstream received for the request whose path was `path`. */
function receivedBy(upstream: HttpUpstream, path: string): TraceContext {
  const request = upstream.seen.find((s) => s.url === path);
  assert.ok(request, `the upstream saw ${path}`);
  const context = parseTraceparent(request.headers.traceparent as string | undefined);
  assert.ok(
    context,
    `a valid traceparent reached the upstream for ${path}: ${String(request.headers.traceparent)}`,
  );
  return context;
}

async function h2Get(url: string, headers: Record<string, string>): Promise<number> {
  const session = connectHttp2(url);
  try {
    const stream = session.request({ ':method': 'GET', ...headers });
    const [answer] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    stream.resume();
    await once(stream, 'end');
    return Number(answer[':status']);
  } finally {
    session.close();
  }
}

describe('traceparent propagation (tracing export off, the default)', () => {
  let fabric: TestFabric;
  let remote: HttpUpstream;
  let local: HttpUpstream;

  before(async () => {
    remote = await startHttpUpstream('127.0.2.60', 'hello@b');
    local = await startHttpUpstream('127.0.1.60', 'near@a');
    fabric = await TestFabric.start([
      { cluster: 'a', host: '127.0.1.1', services: [{ name: 'near', endpoints: [local.endpoint] }] },
      { cluster: 'b', host: '127.0.2.1', services: [{ name: 'hello', endpoints: [remote.endpoint] }] },
    ]);
  });

  after(async () => {
    await fabric?.close();
    await remote?.close();
    await local?.close();
  });

  test("the upstream in b sees the caller's trace id with a new parent-id, on every HTTP path", async () => {
    const a = fabric.gateway('a');
    const cases: [string, () => Promise<number>][] = [
      [
        '/whoami?path=fast',
        () =>
          httpCall(`${a.outboundUrl}/whoami?path=fast`, {
            headers: { host: 'hello', traceparent: sampledBy(CALLER_TRACE) },
          }).then((r) => r.status),
      ],
      [
        '/echo?path=body',
        () =>
          httpCall(`${a.outboundUrl}/echo?path=body`, {
            method: 'POST',
            headers: { host: 'hello', traceparent: sampledBy(CALLER_TRACE), 'content-length': 2 },
            body: Buffer.from('hi'),
          }).then((r) => r.status),
      ],
      [
        '/whoami?path=h2c',
        () =>
          h2Get(a.outboundUrl, {
            ':path': '/whoami?path=h2c',
            ':authority': 'hello',
            traceparent: sampledBy(CALLER_TRACE),
          }),
      ],
    ];
    for (const [path, call] of cases) {
      assert.equal(await call(), 200, path);
      const received = receivedBy(remote, path);
      assert.equal(received.traceId, CALLER_TRACE, `${path}: same trace id`);
      assert.notEqual(received.parentId, CALLER_SPAN, `${path}: the parent-id is a gateway's span`);
      assert.equal(received.flags, 1, `${path}: the caller's sampled flag is kept`);
    }
    const spans = new Set(cases.map(([path]) => receivedBy(remote, path).parentId));
    assert.equal(spans.size, cases.length, 'each request got its own span id');

    const near = await httpCall(`${a.outboundUrl}/whoami?path=local`, {
      headers: { host: 'near', traceparent: sampledBy(CALLER_TRACE) },
    });
    assert.equal(near.status, 200);
    const nearReceived = receivedBy(local, '/whoami?path=local');
    assert.equal(nearReceived.traceId, CALLER_TRACE, 'a local service gets the trace too');
    assert.notEqual(nearReceived.parentId, CALLER_SPAN);
  });

  test('a caller that sends no traceparent, or an invalid one, gets a fresh valid trace', async () => {
    const a = fabric.gateway('a');
    const garbage = `00-${CALLER_TRACE.toUpperCase()}-${CALLER_SPAN}-01`;
    for (const [path, headers] of [
      ['/whoami?trace=none', {}],
      ['/whoami?trace=garbage', { traceparent: garbage }],
      ['/whoami?trace=twice', { traceparent: `${sampledBy(CALLER_TRACE)}, ${sampledBy(CALLER_TRACE)}` }],
    ] as const) {
      const answer = await httpCall(`${a.outboundUrl}${path}`, { headers: { host: 'hello', ...headers } });
      assert.equal(answer.status, 200, path);
      const received = receivedBy(remote, path);
      assert.notEqual(received.traceId, CALLER_TRACE.toLowerCase(), `${path}: a new trace id`);
      assert.equal(received.flags, 0, `${path}: not sampled (no span export configured)`);
    }
    const fresh = new Set(
      ['/whoami?trace=none', '/whoami?trace=garbage', '/whoami?trace=twice'].map(
        (p) => receivedBy(remote, p).traceId,
      ),
    );
    assert.equal(fresh.size, 3, 'every new trace has its own id');
  });
});

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface ExportedSpan extends OtlpSpan {
  /** weft.cluster of the resource that exported it. */
  cluster: string;
  serviceName: string;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

/** A minimal OTLP/HTTP traces receiver: collects every span of every JSON export request. */
async function startOtlpReceiver(): Promise<{ url: string; spans: ExportedSpan[]; server: Server }> {
  const spans: ExportedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      assert.equal(req.url, '/v1/traces');
      assert.match(String(req.headers['content-type']), /application\/json/);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: OtlpValue }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const resourceSpans of body.resourceSpans) {
        const resource = new Map(resourceSpans.resource.attributes.map((a) => [a.key, a.value.stringValue]));
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              ...span,
              cluster: resource.get('weft.cluster') ?? '',
              serviceName: resource.get('service.name') ?? '',
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1/traces`, spans, server };
}

function attribute(span: OtlpSpan, key: string): string | number | undefined {
  const value = span.attributes.find((a) => a.key === key)?.value;
  if (value?.intValue !== undefined) return Number(value.intValue);
  return value?.stringValue;
}

test(
  'OTLP export: two gateways, one trace, a CLIENT span at a under the caller and a SERVER span at b under a',
  { timeout: 60_000 },
  async (t) => {
    const receiver = await startOtlpReceiver();
    t.after(() => {
      receiver.server.closeAllConnections();
      receiver.server.close();
    });
    const hello = await startHttpUpstream('127.0.2.70', 'hello@b');
    t.after(() => hello.close());
    const tracing = { otlpEndpoint: receiver.url, sampleRate: 1 };
    const fabric = await TestFabric.start([
      { cluster: 'a', host: '127.0.1.1', observability: { tracing } },
      {
        cluster: 'b',
        host: '127.0.2.1',
        services: [{ name: 'hello', endpoints: [hello.endpoint] }],
        observability: { tracing },
      },
    ]);
    let closed = false;
    t.after(() => (closed ? undefined : fabric.close()));
    const a = fabric.gateway('a');

    const unsampledTrace = 'aaaabbbbccccddddeeeeffff00001111';
    for (const [path, traceparent] of [
      ['/whoami?r=continued', sampledBy(CALLER_TRACE)],
      ['/whoami?r=started', undefined],
      ['/whoami?r=unsampled', `00-${unsampledTrace}-${CALLER_SPAN}-00`],
    ] as const) {
      const answer = await httpCall(`${a.outboundUrl}${path}`, {
        headers: { host: 'hello', ...(traceparent ? { traceparent } : {}) },
      });
      assert.equal(answer.status, 200, path);
    }
    // Closing the data planes exports what their batch processors still hold.
    await fabric.close();
    closed = true;
    await waitFor('4 spans at the receiver', () => receiver.spans.length >= 4, 10_000);
    console.log(`spans received: ${receiver.spans.length}`);
    assert.equal(
      receiver.spans.length,
      4,
      'two sampled requests, one span per gateway each; none for the unsampled one',
    );
    assert.equal(
      receiver.spans.filter((s) => s.traceId === unsampledTrace).length,
      0,
      "the caller's unsampled flag is respected",
    );

    // A trace the caller started: a's span is the child of the caller's span, b's of a's, the upstream's parent is b's.
    const continued = receiver.spans.filter((s) => s.traceId === CALLER_TRACE);
    const clientSpan = continued.find((s) => s.cluster === 'a');
    const serverSpan = continued.find((s) => s.cluster === 'b');
    assert.ok(clientSpan && serverSpan, "one span from each gateway in the caller's trace");
    assert.equal(clientSpan.kind, SPAN_KIND_CLIENT);
    assert.equal(serverSpan.kind, SPAN_KIND_SERVER);
    assert.equal(clientSpan.parentSpanId, CALLER_SPAN);
    assert.equal(serverSpan.parentSpanId, clientSpan.spanId);
    assert.equal(receivedBy(hello, '/whoami?r=continued').parentId, serverSpan.spanId);
    assert.equal(clientSpan.serviceName, 'weft-gateway');
    assert.equal(clientSpan.name, 'GET hello.default');
    for (const span of [clientSpan, serverSpan]) {
      assert.equal(attribute(span, 'http.request.method'), 'GET');
      assert.equal(attribute(span, 'http.response.status_code'), 200);
      assert.equal(attribute(span, 'url.path'), '/whoami');
      assert.equal(attribute(span, 'weft.source_cluster'), 'a');
      assert.equal(attribute(span, 'weft.destination_cluster'), 'b');
      assert.equal(attribute(span, 'weft.service'), 'hello.default');
      assert.notEqual(span.status?.code, 2, 'not an error');
    }

    // A trace the gateway started (sampleRate 1): a's span is the root.
    const started = receivedBy(hello, '/whoami?r=started');
    assert.equal(started.flags, 1, 'sampled at sampleRate 1');
    const root = receiver.spans.find((s) => s.traceId === started.traceId && s.cluster === 'a');
    const child = receiver.spans.find((s) => s.traceId === started.traceId && s.cluster === 'b');
    assert.ok(root && child);
    assert.ok(!root.parentSpanId, `a root span (parent ${String(root.parentSpanId)})`);
    assert.equal(child.parentSpanId, root.spanId);
    assert.equal(started.parentId, child.spanId);
  },
);
