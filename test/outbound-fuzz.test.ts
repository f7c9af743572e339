// Bad input on the wire: seeded mutations of well-formed requests (a control character, colon, space or
// byte over 0x7f put in, a byte dropped, the request cut short, two requests pipelined) sent to a real
// gateway's outbound listener, for a service in its own cluster and one across a lane in another. Each
// caller half-closes after sending, so every exchange must end: with answers that are well-formed HTTP/1.1
// and never a 500, or with a closed connection. The gateways serve a clean request afterwards, and the
// upstreams never see a request head that carries a control character. The same mutations written on lanes
// (as a calling gateway would, over mutual TLS with its certificate) straight to a peer listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { TestFabric, type TestGateway } from './helpers/dataplane-fabric.js';
import { mutate, random, type Random } from './helpers/mutations.js';
import { startHttpUpstream, type HttpUpstream } from './helpers/sample-upstreams.js';

const CASES = Number(process.env.WIRE_CASES ?? 2000);

/** A well-formed request for `service`; on a lane (`lane`) it names its service as a calling gateway does. */
function request(rng: Random, service: string, lane = false): string {
  const body = rng.pick(['', 'hello', 'x'.repeat(300)]);
  const method = body ? rng.pick(['POST', 'PUT']) : rng.pick(['GET', 'GET', 'HEAD', 'DELETE']);
  const lines = [
    `${method} ${body ? '/echo' : '/whoami'} HTTP/1.${rng.chance(0.9) ? 1 : 0}`,
    `Host: ${service}`,
  ];
  if (lane) lines.push(`weft-service: ${service}`);
  if (rng.chance(0.5)) lines.push('User-Agent: fuzz/1', 'Accept: */*');
  if (rng.chance(0.2)) lines.push('traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  if (!body) return `${lines.join('\r\n')}\r\n\r\n`;
  if (rng.chance(0.5)) return `${lines.join('\r\n')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  return `${lines.join('\r\n')}\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
}

/**
 * Writes `bytes` on `stream` (a caller's connection or a lane), ends it, and collects everything until the
 * gateway closes it; null after `timeoutMs`.
 */
function exchange(stream: Duplex, bytes: Buffer, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      stream.destroy();
      resolve(null);
    }, timeoutMs);
    stream.on('error', () => undefined);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    stream.end(bytes);
  });
}

/** What the answers to mutated requests were, checked as they come: well-formed, never a 500, or none. */
class Answers {
  private readonly tally = new Map<string, number>();

  check(seed: number, sent: Buffer, got: string | null): void {
    const what = `case ${seed}: sent ${JSON.stringify(sent.toString('latin1'))}, got ${JSON.stringify(got).slice(0, 400)}`;
    if (got === null) assert.fail(`${what}: no end within 10 s`);
    assert.ok(got === '' || got.startsWith('HTTP/1.'), what);
    const statuses = [...got.matchAll(/(?:^|\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => m[1] ?? '');
    assert.ok(!statuses.includes('500'), what);
    for (const status of statuses.length > 0 ? statuses : ['closed'])
      this.tally.set(status, (this.tally.get(status) ?? 0) + 1);
  }

  toString(): string {
    return [...this.tally].map(([status, n]) => `${status} ×${n}`).join(', ');
  }
}

/** No request head that reached `upstream` carried a CR, LF or NUL. */
function assertCleanHeads(upstream: HttpUpstream): void {
  for (const seen of upstream.seen) {
    for (const [name, value] of Object.entries(seen.headers)) {
      assert.doesNotMatch(
        `${name}: ${String(value)}`,
        /[\r\n\0]/,
        `${seen.method} ${seen.url} reached the upstream`,
      );
    }
  }
}

const caller = (gateway: TestGateway): Duplex =>
  connect({ host: gateway.host, port: gateway.outboundPort, allowHalfOpen: true });

test(
  'mutated requests on the wire: every exchange ends, answered well-formed (never 500) or closed',
  { timeout: 120_000 },
  async (t) => {
    const localUpstream = await startHttpUpstream('127.0.103.10', 'local@a');
    t.after(() => localUpstream.close());
    const remoteUpstream = await startHttpUpstream('127.0.104.10', 'remote@b');
    t.after(() => remoteUpstream.close());
    const fabric = await TestFabric.start([
      {
        cluster: 'a',
        host: '127.0.103.1',
        services: [{ name: 'local', endpoints: [localUpstream.endpoint] }],
      },
      {
        cluster: 'b',
        host: '127.0.104.1',
        services: [{ name: 'remote', endpoints: [remoteUpstream.endpoint] }],
      },
    ]);
    t.after(() => fabric.close());
    const gateway = fabric.gateway('a');
    const answers = new Answers();
    for (let seed = 1; seed <= CASES; seed++) {
      const rng = random(seed);
      const service = rng.pick(['local.default', 'remote.default']);
      const clean = Buffer.from(request(rng, service), 'latin1');
      const mutant = mutate(rng, clean);
      const sent = rng.chance(0.2)
        ? Buffer.concat([mutant, Buffer.from(request(rng, service), 'latin1')])
        : mutant;
      answers.check(seed, sent, await exchange(caller(gateway), sent, 10_000));
    }
    console.log(`answers to ${CASES} mutated requests: ${answers.toString()}`);
    for (const service of ['local.default', 'remote.default']) {
      const clean = Buffer.from(`GET /whoami HTTP/1.1\r\nHost: ${service}\r\n\r\n`);
      const got = await exchange(caller(gateway), clean, 10_000);
      assert.match(String(got), /^HTTP\/1\.1 200 /, `${service} still served`);
    }
    assertCleanHeads(localUpstream);
    assertCleanHeads(remoteUpstream);
  },
);

/** A new lane on `session`, as a calling gateway opens one. */
const lane = (session: ClientHttp2Session): Duplex =>
  session.request({ ':method': 'CONNECT', ':authority': 'lane.weft:0', 'weft-lane': 'http/1.1' });

test(
  'mutated requests on lanes: every lane ends, answered well-formed (never 500) or closed',
  { timeout: 120_000 },
  async (t) => {
    const upstream = await startHttpUpstream('127.0.105.10', 'lane@b');
    t.after(() => upstream.close());
    const fabric = await TestFabric.start([
      { cluster: 'a', host: '127.0.106.1' },
      { cluster: 'b', host: '127.0.105.1', services: [{ name: 'remote', endpoints: [upstream.endpoint] }] },
    ]);
    t.after(() => fabric.close());
    const b = fabric.gateway('b');
    const session = connectHttp2(`https://${b.peerAddress}`, {
      secureContext: fabric.gateway('a').tls.secureContext(),
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    session.on('error', () => undefined);
    t.after(() => session.destroy());
    const cases = Math.ceil(CASES / 4);
    const answers = new Answers();
    for (let seed = 1; seed <= cases; seed++) {
      const rng = random(seed + 1_000_000);
      const clean = Buffer.from(request(rng, 'remote.default', true), 'latin1');
      const mutant = mutate(rng, clean);
      const sent = rng.chance(0.2) ? Buffer.concat([mutant, clean]) : mutant;
      answers.check(seed, sent, await exchange(lane(session), sent, 10_000));
    }
    console.log(`answers to ${cases} mutated lane requests: ${answers.toString()}`);
    const got = await exchange(
      lane(session),
      Buffer.from('GET /whoami HTTP/1.1\r\nHost: remote.default\r\nweft-service: remote.default\r\n\r\n'),
      10_000,
    );
    assert.match(String(got), /^HTTP\/1\.1 200 /, 'the peer still serves lanes');
    assertCleanHeads(upstream);
  },
);
