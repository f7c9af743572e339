// The peer transport and the data plane's lifecycle: the dialling side accepts only the identity of the
// cluster it meant to reach (a poisoned discovery record fails the handshake), many concurrent requests
// share one TLS connection, failover follows locality and uses stale clusters last, an unreachable peer
// fails fast, drain loses no in-flight request, TLS material rotates without dropping connections, and
// bind failures are clear.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { LocalCatalog } from '../gateway/catalog/index.js';
import { parseConfigObject, parseHostPort } from '../gateway/config/index.js';
import { DataPlane, GatewayError } from '../gateway/index.js';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { httpCall } from './helpers/http-call.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';
import { ShapedUpstream } from './helpers/shaped-upstream.js';
import { waitFor } from './helpers/wait.js';

const whoami = async (url: string, host: string) => {
  const answer = await httpCall(`${url}/whoami`, { headers: { host } });
  return {
    status: answer.status,
    answer,
    servedBy:
      answer.status === 200 ? (JSON.parse(answer.body.toString()) as { servedBy: string }).servedBy : '',
  };
};

/** A departed service's state goes after this (10 minutes by default). */
const RETIREMENT = { retireAfterMs: 300 };

describe('data plane: peers and lifecycle', () => {
  let fabric: TestFabric;
  let helloB: HttpUpstream;
  let helloC: HttpUpstream;
  let nearB: HttpUpstream;
  let farC: HttpUpstream;
  let floodB: ShapedUpstream;

  before(async () => {
    helloB = await startHttpUpstream('127.0.2.40', 'hello@b');
    helloC = await startHttpUpstream('127.0.3.40', 'hello@c');
    nearB = await startHttpUpstream('127.0.2.41', 'multi@b');
    farC = await startHttpUpstream('127.0.3.41', 'multi@c');
    floodB = await ShapedUpstream.start('127.0.2.42');
    fabric = await TestFabric.start(
      [
        { cluster: 'a', host: '127.0.1.1', locality: { cloud: 'aws', region: 'us-east-1' } },
        {
          cluster: 'b',
          host: '127.0.2.1',
          locality: { cloud: 'aws', region: 'eu-west-1' },
          services: [
            { name: 'hello', endpoints: [helloB.endpoint] },
            { name: 'multi', endpoints: [nearB.endpoint] },
            { name: 'flood', endpoints: [floodB.endpoint] },
          ],
        },
        {
          cluster: 'c',
          host: '127.0.3.1',
          locality: { cloud: 'gcp', region: 'us-east-1' },
          services: [
            { name: 'only-c', endpoints: [helloC.endpoint] },
            { name: 'multi', endpoints: [farC.endpoint] },
          ],
        },
      ],
      { peerTransport: { backoff: { baseMs: 50, maxMs: 200 } }, retirement: RETIREMENT },
    );
  });

  after(async () => {
    await fabric?.close();
    await Promise.all([helloB, helloC, nearB, farC].map((u) => u?.close()));
    floodB?.close();
  });

  test('a remote service that goes away takes its state with it after the grace; routed ones keep theirs', async () => {
    const a = fabric.gateway('a');
    const b = fabric.gateway('b');
    const policies = () => (a.dataPlane as unknown as { policies: Map<string, unknown> }).policies;
    const budgets = () => [...a.dataPlane.failoverSources().budgets()].map((x) => x.service);
    const series = async (gateway: typeof a, service: string) =>
      (await gateway.metrics.metrics())
        .split('\n')
        .filter(
          (l) => l.startsWith('weft_requests_total{') && l.includes(`destination_service="${service}"`),
        );
    const id = b.catalog.register('test', {
      name: 'brief',
      namespace: 'default',
      protocol: 'http',
      endpoints: [{ ...parseHostPort(helloB.endpoint)!, weight: 1 }],
    });
    fabric.publish();
    assert.equal((await whoami(a.outboundUrl, 'brief')).status, 200);
    assert.equal((await whoami(a.outboundUrl, 'hello')).status, 200);
    assert.ok(policies().has('brief.default'), 'a routed the service with a failover policy');
    assert.ok(budgets().includes('brief.default'));
    assert.equal((await series(a, 'brief.default')).length, 1);

    b.catalog.deregister(id);
    fabric.publish();
    // No rebuild after this one: the departure is due on its own timer, RETIREMENT.retireAfterMs later.
    await waitFor('brief.default’s state to go', () => !policies().has('brief.default'), 5_000);
    assert.equal(budgets().includes('brief.default'), false);
    assert.deepEqual(await series(a, 'brief.default'), []);
    assert.equal((await series(a, 'hello.default')).length, 1, 'a routed service keeps its series');
    assert.ok(
      (await series(b, 'hello.default')).some((l) => l.includes('listener="peer"')),
      'and so does its serving side, quiet or not',
    );
  });

  test('failover order follows locality (same cloud first); a stale cluster is used only as a last resort', async () => {
    const a = fabric.gateway('a');
    const order = () =>
      a.dataPlane
        .state()
        .routes.find((r) => r.service === 'multi.default')
        ?.failover.map((f) => f.cluster);
    assert.deepEqual(order(), ['b', 'c']);
    assert.equal((await whoami(a.outboundUrl, 'multi')).servedBy, 'multi@b');
    fabric.markStale('b', true);
    try {
      assert.deepEqual(order(), ['c', 'b']);
      assert.equal((await whoami(a.outboundUrl, 'multi')).servedBy, 'multi@c');
    } finally {
      fabric.markStale('b', false);
    }
  });

  test('100 concurrent requests (lanes and streams) ride one TLS connection to the peer', async () => {
    const a = fabric.gateway('a');
    const gets = Array.from({ length: 60 }, () =>
      httpCall(`${a.outboundUrl}/slow?ms=300`, { headers: { host: 'hello' } }),
    );
    const posts = Array.from({ length: 40 }, (_, i) =>
      httpCall(`${a.outboundUrl}/echo`, {
        method: 'POST',
        headers: { host: 'hello' },
        body: Buffer.from(`body-${i}`),
      }),
    );
    const answers = await Promise.all([...gets, ...posts]);
    assert.ok(answers.every((r) => r.status === 200));
    answers.slice(60).forEach((r, i) => assert.equal(r.body.toString(), `body-${i}`));
    const peer = a.dataPlane.state().peers.find((p) => p.cluster === 'b');
    assert.equal(peer?.connections, 1, 'one HTTP/2 connection to b');
    const bMetrics = await fabric.gateway('b').metrics.metrics();
    // One TLS connection from each other gateway: a's carries all 100 requests, c's carries its probes.
    assert.match(
      bMetrics,
      /weft_open_connections\{listener="peer"\} 2\b/,
      'b sees one TLS connection per peer',
    );
  });

  test('a caller that leaves while its answer waits on flow control frees the upstream in the other cluster', async () => {
    // a stops reading the lane, b's writes to it wait for window, b stops reading the upstream. When the
    // caller leaves, a resets the lane; b must close it, and the upstream connection, though it reads
    // nothing from the lane meanwhile (Node keeps such a reset stream open until its data is read).
    const a = fabric.gateway('a');
    const caller = connect(a.outboundPort, a.host);
    caller.on('error', () => undefined);
    caller.write('GET /flood HTTP/1.1\r\nhost: flood\r\n\r\n');
    await once(caller, 'data');
    caller.pause();
    await waitFor('the flood to wait on the gateways', () => floodB.floodHeld, 10_000);
    assert.equal(floodB.open, 1);
    caller.destroy();
    const leftAt = performance.now();
    await waitFor('b to close the upstream connection', () => floodB.open === 0, 10_000);
    console.log(
      `upstream connection in b closed ${(performance.now() - leftAt).toFixed(0)} ms after the caller left`,
    );
  });

  test('a poisoned record pointing b at c’s gateway fails the handshake: nothing reaches c', async () => {
    const a = fabric.gateway('a');
    const seenByC = helloC.seen.length;
    fabric.poison('b', fabric.gateway('c').peerAddress);
    try {
      const { status, answer } = await whoami(a.outboundUrl, 'hello');
      assert.equal(status, 502);
      assert.equal(answer.headers['weft-error'], 'PEER_IDENTITY');
      assert.match(
        answer.body.toString(),
        /spiffe:\/\/weft\.test\/cluster\/c\/gateway; expected spiffe:\/\/weft\.test\/cluster\/b\/gateway/,
      );
      assert.equal(helloC.seen.length, seenByC);
      const peer = a.dataPlane.state().peers.find((p) => p.cluster === 'b');
      assert.match(peer?.lastError ?? '', /expected spiffe:\/\/weft\.test\/cluster\/b\/gateway/);
    } finally {
      fabric.poison('b', fabric.gateway('b').peerAddress);
    }
    assert.equal((await whoami(a.outboundUrl, 'hello')).servedBy, 'hello@b');
  });

  test('an unreachable peer gateway fails fast with 503, not a hang', async () => {
    const a = fabric.gateway('a');
    const closed = createServer();
    closed.listen(0, '127.0.3.99');
    await once(closed, 'listening');
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    fabric.poison('c', `127.0.3.99:${port}`);
    try {
      const started = Date.now();
      const { status, answer } = await whoami(a.outboundUrl, 'only-c');
      assert.equal(status, 503);
      // UPSTREAM_CONNECT when the request dials first, NO_HEALTHY_UPSTREAM once probes judged the peer out.
      assert.ok(
        ['UPSTREAM_CONNECT', 'NO_HEALTHY_UPSTREAM'].includes(String(answer.headers['weft-error'])),
        String(answer.headers['weft-error']),
      );
      assert.ok(Date.now() - started < 2_000);
    } finally {
      fabric.poison('c', fabric.gateway('c').peerAddress);
    }
    await waitFor(
      'c served again after the poisoned record is fixed',
      async () => (await whoami(a.outboundUrl, 'only-c')).servedBy === 'hello@c',
      5_000,
    );
  });

  test('rotated TLS material serves new handshakes while the established connection keeps working', async () => {
    const a = fabric.gateway('a');
    const b = fabric.gateway('b');
    assert.equal((await whoami(a.outboundUrl, 'hello')).servedBy, 'hello@b');
    const before = b.tls.current().serialNumber;
    const issued = await fabric.pki.reissue('b');
    await b.tls.reload();
    await waitFor(
      'b to serve the reissued certificate',
      () => b.tls.current().serialNumber !== before,
      5_000,
    );
    const paths = fabric.pki.pathsOf('a');
    const socket = tlsConnect({
      host: b.host,
      port: Number(b.peerAddress.split(':')[1]),
      ca: await readFile(paths.ca),
      cert: await readFile(paths.cert),
      key: await readFile(paths.key),
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    await once(socket, 'secureConnect');
    assert.equal(socket.getPeerCertificate().serialNumber, issued.serialNumber);
    socket.destroy();
    assert.equal((await whoami(a.outboundUrl, 'hello')).servedBy, 'hello@b');
    assert.equal(
      a.dataPlane.state().peers.find((p) => p.cluster === 'b')?.connections,
      1,
      'no reconnect was needed',
    );
  });

  test('drain: in-flight requests finish, new connections are refused, then everything closes', async () => {
    const a = fabric.gateway('a');
    const inFlight = httpCall(`${a.outboundUrl}/slow?ms=600`, { headers: { host: 'hello' } });
    await waitFor(
      'the slow request to reach hello@b',
      () => helloB.seen.some((s) => s.url === '/slow?ms=600'),
      5_000,
    );
    const drained = a.dataPlane.drain(5_000);
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'slow 600');
    assert.equal(answer.headers.connection, 'close');
    await assert.rejects(httpCall(`${a.outboundUrl}/whoami`, { headers: { host: 'hello' } }), /ECONNREFUSED/);
    await drained;
    await a.dataPlane.close();
    await a.dataPlane.close();
  });
});

describe('data plane: start and close', () => {
  test('a port in use fails start with a clear LISTEN_FAILED; close after a partial start is safe', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.1.2');
    await once(taken, 'listening');
    const port = (taken.address() as { port: number }).port;
    const fabric = await TestFabric.start([{ cluster: 'a', host: '127.0.1.1' }]);
    try {
      const a = fabric.gateway('a');
      const config = parseConfigObject(
        {
          cluster: 'a',
          locality: a.config.locality,
          trustDomain: a.config.trustDomain,
          redis: 'redis://127.0.0.1:1',
          tls: a.config.tls,
          listen: { outbound: `127.0.1.2:${port}`, peer: '127.0.1.2:0' },
        },
        a.config.source,
      );
      const dataPlane = new DataPlane({
        config,
        view: fabric.view,
        catalog: new LocalCatalog([]),
        tls: a.tls.current(),
        metrics: new Registry(),
        logger: pino({ level: 'silent' }),
      });
      const err = await dataPlane.start().then(
        () => assert.fail('start should fail'),
        (e: unknown) => e as GatewayError,
      );
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'LISTEN_FAILED');
      assert.match(
        err.message,
        new RegExp(
          `outbound listener \\(listen\\.outbound\\) cannot listen on 127\\.0\\.1\\.2:${port}: .*EADDRINUSE`,
        ),
      );
      await dataPlane.close();
      await dataPlane.close();
    } finally {
      taken.close();
      await fabric.close();
    }
  });
});
