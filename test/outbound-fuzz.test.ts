// Bad input on the wire: seeded mutations of well-formed requests (a control character, colon, space or
// byte over 0x7f put in, a byte dropped, the request cut short, two requests pipelined) sent to a real
// gateway's outbound listener, for a service in its own cluster and one across a lane in another. Each
// caller half-closes after sending, so every exchange must end: with answers that are well-formed HTTP/1.1
// and never a 500, or with a closed connection. The gateways serve a clean request afterwards, and the
// upstreams never see a request head that carries a control character. The same mutations written on lanes
// (as a calling gateway would, over mutual TLS with its certificate) straight to a peer listener.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectHttp2 } from 'node:http2';
import { connect } from 'node:net';
import { TestFabric } from './helpers/dataplane-fabric.js';
import { startHttpUpstream } from './helpers/sample-upstreams.js';

const CASES = Number(process.env.WIRE_CASES ?? 2000);

function random(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (below: number): number => Math.floor(next() * below);
  return {
    int,
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)] as T,
  };
}
type Random = ReturnType<typeof random>;

const MUTANT_BYTES = [0x0d, 0x0a, 0x00, 0x3a, 0x20, 0x09, 0x7f, 0x80, 0xff, 0x2c];

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

function mutate(rng: Random, data: Buffer): Buffer {
  let out = Buffer.from(data);
  for (let i = 1 + rng.int(3); i > 0 && out.length > 0; i--) {
    const at = rng.int(out.length);
    const byte = rng.pick(MUTANT_BYTES);
    switch (rng.int(4)) {
      case 0:
        out[at] = byte;
        break;
      case 1:
        out = Buffer.concat([out.subarray(0, at), Buffer.from([byte]), out.subarray(at)]);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
        break;
      default:
        out = out.subarray(0, at);
    }
  }
  return out;
}

/** Sends `bytes`, half-closes, and collects everything until the gateway closes; null after `timeoutMs`. */
function exchange(host: string, port: number, bytes: Buffer, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, timeoutMs);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.end(bytes);
  });
}

/** The status codes of every answer in `got`, which must be a sequence of well-formed heads and bodies. */
function statusesIn(got: string): number[] {
  return [...got.matchAll(/(?:^|\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

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
    const tally = new Map<string, number>();
    for (let seed = 1; seed <= CASES; seed++) {
      const rng = random(seed);
      const service = rng.pick(['local.default', 'remote.default']);
      const clean = Buffer.from(request(rng, service), 'latin1');
      const mutant = mutate(rng, clean);
      const sent = rng.chance(0.2)
        ? Buffer.concat([mutant, Buffer.from(request(rng, service), 'latin1')])
        : mutant;
      const got = await exchange(gateway.host, gateway.outboundPort, sent, 10_000);
      const what = `case ${seed}: sent ${JSON.stringify(sent.toString('latin1'))}, got ${JSON.stringify(got).slice(0, 400)}`;
      if (got === null) assert.fail(`${what}: no end within 10 s`);
      assert.ok(got === '' || got.startsWith('HTTP/1.'), what);
      const statuses = statusesIn(got);
      assert.ok(!statuses.includes(500), what);
      for (const status of statuses.length > 0 ? statuses : ['closed'])
        tally.set(String(status), (tally.get(String(status)) ?? 0) + 1);
    }
    console.log(
      `answers to ${CASES} mutated requests: ${[...tally].map(([s, n]) => `${s} ×${n}`).join(', ')}`,
    );
    for (const service of ['local.default', 'remote.default']) {
      const got = await exchange(
        gateway.host,
        gateway.outboundPort,
        Buffer.from(`GET /whoami HTTP/1.1\r\nHost: ${service}\r\n\r\n`),
        10_000,
      );
      assert.match(String(got), /^HTTP\/1\.1 200 /, `${service} still served`);
    }
    for (const upstream of [localUpstream, remoteUpstream]) {
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
  },
);

/** Opens a lane to `peer` as gateway `from`, writes `bytes`, ends it, collects the answer; null after `timeoutMs`. */
function laneExchange(
  session: ReturnType<typeof connectHttp2>,
  bytes: Buffer,
  timeoutMs: number,
): Promise<string | null> {
  return new Promise((resolve) => {
    const lane = session.request({
      ':method': 'CONNECT',
      ':authority': 'lane.weft:0',
      'weft-lane': 'http/1.1',
    });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      lane.close();
      resolve(null);
    }, timeoutMs);
    lane.on('error', () => undefined);
    lane.on('data', (chunk: Buffer) => chunks.push(chunk));
    lane.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    lane.end(bytes);
  });
}

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
    const tally = new Map<string, number>();
    for (let seed = 1; seed <= cases; seed++) {
      const rng = random(seed + 1_000_000);
      const clean = Buffer.from(request(rng, 'remote.default', true), 'latin1');
      const mutant = mutate(rng, clean);
      const sent = rng.chance(0.2) ? Buffer.concat([mutant, clean]) : mutant;
      const got = await laneExchange(session, sent, 10_000);
      const what = `case ${seed}: sent ${JSON.stringify(sent.toString('latin1'))}, got ${JSON.stringify(got).slice(0, 400)}`;
      if (got === null) assert.fail(`${what}: no end within 10 s`);
      assert.ok(got === '' || got.startsWith('HTTP/1.'), what);
      const statuses = statusesIn(got);
      assert.ok(!statuses.includes(500), what);
      for (const status of statuses.length > 0 ? statuses : ['closed'])
        tally.set(String(status), (tally.get(String(status)) ?? 0) + 1);
    }
    console.log(
      `answers to ${cases} mutated lane requests: ${[...tally].map(([s, n]) => `${s} ×${n}`).join(', ')}`,
    );
    const got = await laneExchange(
      session,
      Buffer.from('GET /whoami HTTP/1.1\r\nHost: remote.default\r\nweft-service: remote.default\r\n\r\n'),
      10_000,
    );
    assert.match(String(got), /^HTTP\/1\.1 200 /, 'the peer still serves lanes');
    for (const seen of upstream.seen) {
      for (const [name, value] of Object.entries(seen.headers)) {
        assert.doesNotMatch(
          `${name}: ${String(value)}`,
          /[\r\n\0]/,
          `${seen.method} ${seen.url} reached the upstream`,
        );
      }
    }
  },
);
