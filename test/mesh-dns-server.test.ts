import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './helpers/wait.js';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';
import { answerQuery, MeshDnsServer, RCODE, type MeshZone } from '../gateway/dns-server/index.js';
import { GatewayError } from '../gateway/errors.js';
import { StaticFabricView } from './helpers/static-fabric-view.js';

const ZONE = 'clusterset.local';
const view = new StaticFabricView([
  { name: 'aws-use1', services: [{ key: 'hello.default' }] },
  { name: 'gcp-euw1', services: [{ key: 'db.shop' }] },
]);

function knows(service: string, cluster?: string): boolean {
  const clusters = view.snapshot().clusters;
  if (cluster !== undefined) return clusters.get(cluster)?.services.has(service) ?? false;
  return [...clusters.values()].some((c) => c.services.has(service));
}

/** The zone the listener gives answerQuery, for tests that need no socket. */
function meshZone(known: MeshZone['knows']): MeshZone {
  return {
    zone: ZONE,
    defaultNamespace: 'default',
    address: { host: '127.0.0.1', port: 4140, family: 4 },
    knows: known,
  };
}

async function startDns(outbound = { host: '127.0.0.1', port: 4140 }, known = knows) {
  const dns = new MeshDnsServer({
    listen: { host: '127.0.0.1', port: 0 },
    zone: ZONE,
    defaultNamespace: 'default',
    outbound,
    knows: known,
  });
  await dns.start();
  return { dns, port: dns.address().port };
}

function udpExchange(port: number, message: Buffer, timeoutMs = 3_000): Promise<Buffer | undefined> {
  return new Promise((resolveAnswer, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolveAnswer(undefined);
    }, timeoutMs);
    socket.once('message', (answer) => {
      clearTimeout(timer);
      socket.close();
      resolveAnswer(answer);
    });
    socket.once('error', reject);
    socket.send(message, port, '127.0.0.1');
  });
}

function query(name: string, type: RecordType, id = 4242, edns = false): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    ...(edns
      ? {
          additionals: [
            {
              type: 'OPT',
              name: '.',
              udpPayloadSize: 4096,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        }
      : {}),
  });
}

async function ask(
  port: number,
  name: string,
  type: RecordType,
): Promise<DecodedPacket & { rcode?: string }> {
  const answer = await udpExchange(port, query(name, type));
  assert.ok(answer, `no answer for ${name} ${type}`);
  return dnsPacket.decode(answer);
}

test('mesh DNS: A and SRV for fabric-wide and cluster-pinned names point at the outbound listener', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());

  const a = await ask(port, 'hello.default.svc.clusterset.local', 'A');
  assert.equal(a.rcode, 'NOERROR');
  assert.equal(a.id, 4242);
  assert.equal(a.flag_aa, true);
  assert.equal(a.flag_rd, true);
  assert.deepEqual(a.answers, [
    {
      name: 'hello.default.svc.clusterset.local',
      type: 'A',
      ttl: 5,
      class: 'IN',
      flush: false,
      data: '127.0.0.1',
    },
  ]);

  const srv = await ask(port, 'hello.default.svc.clusterset.local', 'SRV');
  assert.deepEqual(
    srv.answers?.map((r) => r.type === 'SRV' && r.data),
    [{ priority: 0, weight: 1, port: 4140, target: 'hello.default.svc.clusterset.local' }],
  );
  assert.deepEqual(
    srv.additionals?.map((r) => [r.type, r.name, 'data' in r ? r.data : null]),
    [['A', 'hello.default.svc.clusterset.local', '127.0.0.1']],
  );

  const pinned = await ask(port, 'gcp-euw1.db.shop.svc.clusterset.local', 'A');
  assert.equal(pinned.rcode, 'NOERROR');
  assert.equal(pinned.answers?.[0]?.type === 'A' && pinned.answers[0].data, '127.0.0.1');

  // The question is echoed as asked (DNS 0x20 case randomisation).
  const mixed = await ask(port, 'HeLLo.Default.SVC.ClusterSet.Local', 'A');
  assert.equal(mixed.questions?.[0]?.name, 'HeLLo.Default.SVC.ClusterSet.Local');
  assert.equal(mixed.answers?.[0]?.name, 'HeLLo.Default.SVC.ClusterSet.Local');

  // The name exists, but there is no IPv6 outbound listener: NOERROR without answers, SOA for caching.
  const aaaa = await ask(port, 'hello.default.svc.clusterset.local', 'AAAA');
  assert.equal(aaaa.rcode, 'NOERROR');
  assert.deepEqual(aaaa.answers, []);
  assert.equal(aaaa.authorities?.[0]?.type, 'SOA');
});

test('mesh DNS: NXDOMAIN for unknown names in the zone, REFUSED outside it', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  for (const name of [
    'nope.default.svc.clusterset.local',
    'gcp-euw1.hello.default.svc.clusterset.local',
    'hello.clusterset.local',
    'a.b.c.d.svc.clusterset.local',
  ]) {
    const answer = await ask(port, name, 'A');
    assert.equal(answer.rcode, 'NXDOMAIN', name);
    assert.equal(answer.flag_aa, true, name);
    assert.deepEqual(answer.answers, [], name);
    assert.equal(answer.authorities?.[0]?.type, 'SOA', name);
  }
  for (const name of ['example.com', 'hello.default.svc.cluster.local', 'hello']) {
    const answer = await ask(port, name, 'A');
    assert.equal(answer.rcode, 'REFUSED', name);
    assert.deepEqual(answer.answers, [], name);
  }
  const apex = await ask(port, 'clusterset.local', 'SOA');
  assert.equal(apex.rcode, 'NOERROR');
  assert.equal(apex.answers?.[0]?.type, 'SOA');
});

/** A query for the name made of `labels` exactly as given: a label may hold a dot or any byte. */
function wireQuery(labels: (string | Buffer)[], type: number): Buffer {
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const name = labels.map((label) => {
    const bytes = Buffer.isBuffer(label) ? label : Buffer.from(label);
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  return Buffer.concat([header, ...name, Buffer.from([0, 0, type, 0, 1])]);
}

test('mesh DNS reads names as labels: a label with a dot or a non-ASCII byte is no service name', () => {
  const services = new Set(['hello.default', 'kafka.default']);
  const zone = meshZone((service) => services.has(service));
  const A = 1;
  const SOA = 6;
  const kelvin = Buffer.from('\u212aafka'); // KELVIN SIGN, which toLowerCase() makes an ASCII k
  const cases: [string, (string | Buffer)[], number, number][] = [
    ['control', ['Kafka', 'default', 'svc', 'clusterset', 'local'], A, RCODE.NOERROR],
    ['one top-level label', ['hello.default.svc.clusterset.local'], A, RCODE.REFUSED],
    ['one top-level label, the zone', ['clusterset.local'], SOA, RCODE.REFUSED],
    ['a dot in the zone label', ['foo', 'x.clusterset', 'local'], A, RCODE.REFUSED],
    ['a dot inside the zone', ['hello.default', 'svc', 'clusterset', 'local'], A, RCODE.NXDOMAIN],
    ['a Kelvin sign', [kelvin, 'default', 'svc', 'clusterset', 'local'], A, RCODE.NXDOMAIN],
    ['a Latin-1 byte', [Buffer.from([0xc0]), 'default', 'svc', 'clusterset', 'local'], A, RCODE.NXDOMAIN],
  ];
  for (const [label, labels, type, rcode] of cases) {
    const answer = answerQuery(wireQuery(labels, type), zone, 'udp');
    assert.ok(answer, label);
    assert.equal(answer.readUInt16BE(2) & 0xf, rcode, label);
    assert.equal(answer.readUInt16BE(6), rcode === RCODE.NOERROR ? 1 : 0, `${label}: answer count`);
    assert.equal(answer.readUInt16BE(8), rcode === RCODE.NXDOMAIN ? 1 : 0, `${label}: SOA in authority`);
  }
});

test('mesh DNS: svc.<zone> and <namespace>.svc.<zone> exist without records (NODATA, not NXDOMAIN)', () => {
  const zone = meshZone(knows);
  for (const [name, type] of [
    ['svc.clusterset.local', 'A'],
    ['SVC.ClusterSet.Local', 'SRV'],
    ['default.svc.clusterset.local', 'A'],
    ['shop.svc.clusterset.local', 'AAAA'],
  ] as const) {
    const answer = dnsPacket.decode(answerQuery(query(name, type), zone, 'udp') ?? Buffer.alloc(0));
    assert.equal((answer as { rcode?: string }).rcode, 'NOERROR', name);
    assert.equal(answer.flag_aa, true, name);
    assert.deepEqual(answer.answers, [], name);
    assert.equal(answer.authorities?.[0]?.type, 'SOA', name);
  }
  for (const name of ['-x-.svc.clusterset.local', 'x.svc.svc.clusterset.local']) {
    const answer = dnsPacket.decode(answerQuery(query(name, 'A'), zone, 'udp') ?? Buffer.alloc(0));
    assert.equal((answer as { rcode?: string }).rcode, 'NXDOMAIN', name);
  }
});

// Over UDP the same packets get no reply at all: see mesh-dns-abuse.test.ts.
test('mesh DNS over TCP: malformed queries get FORMERR or NOTIMP, and the server keeps answering', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  const rcode = (answer: Buffer) => answer.readUInt16BE(2) & 0xf;

  const short = await tcpExchange(port, Buffer.from([0xbe, 0xef, 0x01, 0x00, 0x00]));
  assert.equal(short.readUInt16BE(0), 0xbeef);
  assert.equal(rcode(short), 1, 'FORMERR');

  const truncatedName = query('hello.default.svc.clusterset.local', 'A', 7).subarray(0, 20);
  const formerr = await tcpExchange(port, truncatedName);
  assert.equal(dnsPacket.decode(formerr).id, 7);
  assert.equal((dnsPacket.decode(formerr) as { rcode?: string }).rcode, 'FORMERR');

  const twoQuestions = dnsPacket.encode({
    type: 'query',
    id: 8,
    questions: [
      { type: 'A', name: 'hello.default.svc.clusterset.local' },
      { type: 'A', name: 'db.shop.svc.clusterset.local' },
    ],
  });
  assert.equal(
    (dnsPacket.decode(await tcpExchange(port, twoQuestions)) as { rcode?: string }).rcode,
    'FORMERR',
  );

  const garbage = Buffer.from('ffffffffffffffffffffffffffffffffffff', 'hex');
  garbage.writeUInt16BE(0x0100, 2);
  assert.equal(rcode(await tcpExchange(port, garbage)), 1, 'FORMERR');

  const notQuery = query('hello.default.svc.clusterset.local', 'A', 9);
  notQuery.writeUInt16BE(notQuery.readUInt16BE(2) | (2 << 11), 2);
  assert.equal(rcode(await tcpExchange(port, notQuery)), 4, 'NOTIMP');

  assert.equal((await ask(port, 'hello.default.svc.clusterset.local', 'A')).rcode, 'NOERROR');
});

test('mesh DNS: NOTIMP carries the opcode asked for; an EDNS version other than 0 gets BADVERS', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  const notify = query('clusterset.local', 'SOA', 10);
  notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
  const notimp = await tcpExchange(port, notify);
  assert.equal((notimp.readUInt16BE(2) >> 11) & 0xf, 4, 'opcode NOTIFY');
  assert.equal(notimp.readUInt16BE(2) & 0xf, 4, 'NOTIMP');

  const future = dnsPacket.encode({
    type: 'query',
    id: 11,
    questions: [{ type: 'A', name: 'hello.default.svc.clusterset.local' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 1232,
        extendedRcode: 0,
        ednsVersion: 1,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  });
  const answer = await udpExchange(port, future);
  assert.ok(answer);
  const badvers = dnsPacket.decode(answer);
  const opt = badvers.additionals?.find((r) => r.type === 'OPT');
  assert.equal(answer.readUInt16BE(2) & 0xf, 0, 'BADVERS (16): low bits 0 in the header');
  assert.ok(opt?.type === 'OPT');
  assert.equal(opt.extendedRcode, 1, 'BADVERS (16): high bits 1 in the OPT record');
  assert.equal(opt.ednsVersion, 0);
  assert.deepEqual(badvers.answers, []);
});

test('mesh DNS: IPv6 outbound listeners are answered with AAAA', async (t) => {
  const { dns, port } = await startDns({ host: '::1', port: 4141 });
  t.after(() => dns.close());
  const aaaa = await ask(port, 'hello.default.svc.clusterset.local', 'AAAA');
  assert.equal(aaaa.answers?.[0]?.type === 'AAAA' && aaaa.answers[0].data, '::1');
  assert.deepEqual((await ask(port, 'hello.default.svc.clusterset.local', 'A')).answers, []);
});

test('mesh DNS: the outbound address however written; IPv4-mapped in A, a wildcard as loopback', async () => {
  const addresses = async (port: number, type: 'A' | 'AAAA') =>
    ((await ask(port, 'hello.default.svc.clusterset.local', type)).answers ?? []).map((a) =>
      a.type === 'A' || a.type === 'AAAA' ? a.data : a.type,
    );
  for (const [outbound, a, aaaa] of [
    ['::ffff:127.0.190.1', ['127.0.190.1'], []],
    ['::FFFF:7F00:BE01', ['127.0.190.1'], []],
    ['::ffff:0.0.0.0', ['127.0.0.1'], []],
    ['0.0.0.0', ['127.0.0.1'], []],
    // A dual-stack wildcard is answered as ::1 only (one address per listener): A has no records.
    ['::', [], ['::1']],
    ['::0', [], ['::1']],
    ['0:0:0:0:0:0:0:0', [], ['::1']],
    ['0:0:0:0:0:0:0:1', [], ['::1']],
  ] as const) {
    const { dns, port } = await startDns({ host: outbound, port: 4140 });
    try {
      assert.deepEqual(await addresses(port, 'A'), a, `${outbound} A`);
      assert.deepEqual(await addresses(port, 'AAAA'), aaaa, `${outbound} AAAA`);
    } finally {
      await dns.close();
    }
  }
});

function tcpExchange(port: number, message: Buffer): Promise<Buffer> {
  return new Promise((resolveAnswer, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        socket.destroy();
        resolveAnswer(received.subarray(2, 2 + received.readUInt16BE(0)));
      }
    });
    socket.on('error', reject);
    const frame = Buffer.alloc(2 + message.length);
    frame.writeUInt16BE(message.length, 0);
    message.copy(frame, 2);
    // Split the frame to exercise reassembly.
    socket.write(frame.subarray(0, 5));
    setImmediate(() => socket.write(frame.subarray(5)));
  });
}

test('mesh DNS: oversized UDP answers are truncated; TCP carries the full answer', async (t) => {
  const { dns, port } = await startDns(undefined, () => true);
  t.after(() => dns.close());
  const long = `${'c'.repeat(63)}.${'s'.repeat(63)}.${'n'.repeat(63)}.svc.clusterset.local`;
  const udp = await udpExchange(port, query(long, 'SRV'));
  assert.ok(udp);
  const truncated = dnsPacket.decode(udp);
  assert.equal(truncated.flag_tc, true);
  assert.deepEqual(truncated.answers, []);
  assert.ok(udp.length <= 512);

  const withEdns = dnsPacket.decode(
    (await udpExchange(port, query(long, 'SRV', 1, true))) ?? Buffer.alloc(0),
  );
  assert.equal(withEdns.flag_tc, false, 'an EDNS client with a 4096-byte buffer gets the whole answer');

  const tcp = dnsPacket.decode(await tcpExchange(port, query(long, 'SRV')));
  assert.equal(tcp.flag_tc, false);
  assert.equal(tcp.answers?.[0]?.type, 'SRV');
  assert.equal(tcp.additionals?.[0]?.type, 'A');
});

test('mesh DNS over UDP leaves out additional records before it truncates an answer', () => {
  const zone = meshZone(() => true);
  // The question and the SRV record fit in 512 bytes, the A record for its target no longer does.
  const name = `${'a'.repeat(40)}.${'b'.repeat(40)}.${'c'.repeat(30)}.svc.clusterset.local`;
  const plain = answerQuery(query(name, 'SRV'), zone, 'udp');
  const edns512 = dnsPacket.encode({
    type: 'query',
    id: 2,
    questions: [{ type: 'SRV', name }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 512,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  });
  const withOpt = answerQuery(edns512, zone, 'udp');
  for (const [label, answer, additionals] of [
    ['no EDNS', plain, []],
    ['EDNS, 512 bytes', withOpt, ['OPT']],
  ] as const) {
    assert.ok(answer && answer.length <= 512, label);
    const decoded = dnsPacket.decode(answer);
    assert.equal(decoded.flag_tc, false, label);
    assert.deepEqual(
      decoded.answers?.map((r) => r.type),
      ['SRV'],
      label,
    );
    assert.deepEqual(
      decoded.additionals?.map((r) => r.type),
      additionals,
      label,
    );
  }
  const tcp = dnsPacket.decode(answerQuery(query(name, 'SRV'), zone, 'tcp') ?? Buffer.alloc(0));
  assert.deepEqual(
    tcp.additionals?.map((r) => r.type),
    ['A'],
  );
});

test('mesh DNS over TCP stops reading from a client that does not read its answers', async (t) => {
  const { dns, port } = await startDns(undefined, () => true);
  t.after(() => dns.close());
  const long = `${'c'.repeat(63)}.${'s'.repeat(63)}.${'n'.repeat(63)}.svc.clusterset.local`;
  const message = query(long, 'SRV');
  const frame = Buffer.alloc(2 + message.length);
  frame.writeUInt16BE(message.length, 0);
  message.copy(frame, 2);
  const client = connect(port, '127.0.0.1');
  client.pause(); // never reads
  t.after(() => client.destroy());
  // About 20 MB of answers: more than the kernel buffers between the two ends hold.
  client.write(Buffer.concat(Array.from({ length: 50_000 }, () => frame)));
  const server = (dns as unknown as { connections: Set<Socket> }).connections;
  await waitFor('the server to stop reading', () => [...server].some((s) => s.isPaused()), 20_000);
  const [socket] = [...server];
  assert.ok(socket && socket.writableLength < 1024 * 1024, `buffered ${socket?.writableLength} bytes`);
});

test('mesh DNS: dig resolves fabric names through the listener', async (t) => {
  const dig = await promisify(execFile)('dig', ['-v']).then(
    () => true,
    () => false,
  );
  if (!dig) {
    t.skip('dig is not installed (apt-get install -y bind9-dnsutils)');
    return;
  }
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  const run = async (...args: string[]) =>
    (await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args]))
      .stdout;
  assert.equal((await run('+short', 'hello.default.svc.clusterset.local', 'A')).trim(), '127.0.0.1');
  assert.equal(
    (await run('+short', 'hello.default.svc.clusterset.local', 'SRV')).trim(),
    '0 1 4140 hello.default.svc.clusterset.local.',
  );
  assert.match(await run('nope.default.svc.clusterset.local', 'A'), /status: NXDOMAIN/);
  assert.match(await run('example.com', 'A'), /status: REFUSED/);
  assert.match(
    await run('+tcp', 'hello.default.svc.clusterset.local', 'A'),
    /status: NOERROR[\s\S]*127\.0\.0\.1/,
  );
});

test('mesh DNS: bad outbound hosts are a USAGE error; a taken port is LISTEN_FAILED; close is idempotent', async () => {
  // A name is no address to answer with, nor is one with a zone id (dns-packet would encode ::1%lo as ::668).
  for (const host of ['gw.example.com', '::1%lo'])
    assert.throws(
      () =>
        new MeshDnsServer({
          listen: { host: '127.0.0.1', port: 0 },
          zone: ZONE,
          defaultNamespace: 'default',
          outbound: { host, port: 4140 },
          knows,
        }),
      (err: unknown) =>
        err instanceof GatewayError && err.code === 'USAGE' && /not an IP address/.test(err.message),
    );
  const { dns, port } = await startDns();
  const clash = new MeshDnsServer({
    listen: { host: '127.0.0.1', port },
    zone: ZONE,
    defaultNamespace: 'default',
    outbound: { host: '0.0.0.0', port: 4140 },
    knows,
  });
  await assert.rejects(clash.start(), (err: unknown) => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'LISTEN_FAILED');
    assert.match(
      err.message,
      new RegExp(`mesh DNS \\(listen\\.dns, UDP\\) cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
    );
    return true;
  });
  await clash.close();
  await dns.close();
  await dns.close();
});
