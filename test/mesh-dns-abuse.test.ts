// The mesh DNS listener under hostile traffic: datagrams from port 0, crafted queries that are costly to
// decode, garbage that would start a UDP ping-pong, and TCP clients that hold connection slots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import dnsPacket from 'dns-packet';
import { answerQuery, MeshDnsServer, RCODE, type MeshZone } from '../gateway/dns-server/index.js';
import { clientNetworkOf } from '../gateway/dns-server/client-network.js';
import { waitFor, within } from './helpers/wait.js';

const HOST = '127.0.80.1';
const NAME = 'hello.default.svc.clusterset.local';
const zone: MeshZone = {
  zone: 'clusterset.local',
  defaultNamespace: 'default',
  address: { host: '127.0.0.1', port: 4140, family: 4 },
  knows: () => true,
};

async function startDns(tcp: { tcpMessageTimeoutMs?: number; tcpConnectionsPerAddress?: number } = {}) {
  const dns = new MeshDnsServer({
    listen: { host: HOST, port: 0 },
    zone: 'clusterset.local',
    defaultNamespace: 'default',
    outbound: { host: '127.0.0.1', port: 4140 },
    knows: () => true,
    ...tcp,
  });
  await dns.start();
  return { dns, port: dns.address().port };
}

function query(id: number, flags = dnsPacket.RECURSION_DESIRED): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags, questions: [{ type: 'A', name: NAME }] });
}

const rcode = (answer: Buffer | undefined) => (answer ? answer.readUInt16BE(2) & 0xf : 'no answer');

/** A UDP client on `address` that records every reply. */
async function udpClient(address: string): Promise<{ socket: UdpSocket; replies: Buffer[] }> {
  const socket = createSocket('udp4');
  const replies: Buffer[] = [];
  socket.on('message', (reply) => replies.push(reply));
  await new Promise<void>((resolveBind) => socket.bind({ address, port: 0 }, resolveBind));
  return { socket, replies };
}

/** Sends `datagrams`, then a valid query (id 0x7777), and returns every reply received up to the
 *  query's answer: loopback keeps order, so any reply to the earlier datagrams arrives before it. */
async function repliesUpToQuery(port: number, datagrams: Buffer[]): Promise<Buffer[]> {
  const { socket, replies } = await udpClient('127.0.80.9');
  try {
    for (const datagram of datagrams) socket.send(datagram, port, HOST);
    socket.send(query(0x7777), port, HOST);
    await waitFor(
      'the answer to the valid query',
      () => replies.some((r) => r.readUInt16BE(0) === 0x7777),
      5_000,
    );
    return replies;
  } finally {
    socket.close();
  }
}

interface TcpClient {
  socket: Socket;
  answers: Buffer[];
  closed: () => boolean;
}

async function tcpClient(port: number, localAddress: string): Promise<TcpClient> {
  const socket = connect({ port, host: HOST, localAddress });
  const answers: Buffer[] = [];
  let closed = false;
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
      answers.push(received.subarray(2, 2 + received.readUInt16BE(0)));
      received = received.subarray(2 + received.readUInt16BE(0));
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolveConnect) => socket.once('connect', resolveConnect));
  return { socket, answers, closed: () => closed };
}

function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/** Writes `message` and resolves with its answer, or with undefined if the server closes first. */
async function tcpAsk(client: TcpClient, message: Buffer): Promise<Buffer | undefined> {
  const before = client.answers.length;
  client.socket.write(frame(message));
  const answer = await within('an answer or the connection to close', 5_000, () =>
    client.answers.length > before ? client.answers[before] : client.closed() ? 'closed' : undefined,
  );
  return answer === 'closed' ? undefined : answer;
}

test('mesh DNS: a datagram from source port 0 is dropped and cannot crash the gateway', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  // What the socket emits for such a datagram; answering it made send() throw ERR_SOCKET_BAD_PORT.
  const udp = (dns as unknown as { udp: UdpSocket }).udp;
  const peer = { address: '127.0.80.5', family: 'IPv4', port: 0, size: 52 };
  assert.doesNotThrow(() => udp.emit('message', query(1), peer));
  // Nothing else send() throws escapes either (no real datagram comes from port 65536).
  assert.doesNotThrow(() => udp.emit('message', query(1), { ...peer, port: 65_536 }));
  assert.deepEqual(
    (await repliesUpToQuery(port, [])).map((r) => r.readUInt16BE(0)),
    [0x7777],
  );
});

test('mesh DNS: a real datagram from source port 0 (raw socket, needs CAP_NET_RAW)', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  // An IPv4 header and a UDP header with source port 0 and no checksum (legal on IPv4, RFC 768).
  const script = `
import socket, struct, sys
q = bytes.fromhex(sys.argv[2])
udp = struct.pack('!HHHH', 0, int(sys.argv[1]), 8 + len(q), 0) + q
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0x1234, 0, 64, 17, 0,
                 socket.inet_aton('127.0.80.5'), socket.inet_aton('${HOST}'))
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + udp, ('${HOST}', 0))
`;
  const sent = await promisify(execFile)('python3', [
    '-c',
    script,
    String(port),
    query(2).toString('hex'),
  ]).then(
    () => true,
    () => false,
  );
  if (!sent) {
    t.skip('cannot send from a raw socket here (needs python3 and CAP_NET_RAW)');
    return;
  }
  // The datagram arrived before this query (same host, same socket queue); the gateway is still up.
  assert.deepEqual(
    (await repliesUpToQuery(port, [])).map((r) => r.readUInt16BE(0)),
    [0x7777],
  );
});

/** The reviewer's packet: a valid question, then a chain of 16,000 backward compression pointers in an
 *  unknown record's data and about 2,300 NS records whose names point into the chain (64 KB). */
function pointerChainQuery(): Buffer {
  const name = Buffer.concat([
    ...NAME.split('.').map((l) => Buffer.from([l.length, ...Buffer.from(l)])),
    Buffer.from([0]),
  ]);
  const question = Buffer.concat([name, Buffer.from([0, 1, 0, 1])]);
  const chainAt = 12 + question.length + 11;
  const pointers = 16_000;
  const chain = Buffer.alloc(1 + 2 * pointers);
  for (let i = 0; i < pointers; i++) {
    chain.writeUInt16BE(0xc000 | (i === 0 ? chainAt : chainAt + 1 + 2 * (i - 1)), 1 + 2 * i);
  }
  const holder = Buffer.alloc(11);
  holder.writeUInt16BE(0xff00, 1);
  holder.writeUInt16BE(1, 3);
  holder.writeUInt16BE(chain.length, 9);
  const end = 0xc000 | (chainAt + 1 + 2 * (pointers - 1));
  const ns = Buffer.alloc(14);
  ns.writeUInt16BE(end, 0);
  ns.writeUInt16BE(2, 2);
  ns.writeUInt16BE(1, 4);
  ns.writeUInt16BE(2, 10);
  ns.writeUInt16BE(end, 12);
  const count = Math.floor((65_480 - chainAt - chain.length) / ns.length);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0xabcd, 0);
  header.writeUInt16BE(0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(1 + count, 6);
  return Buffer.concat([header, question, holder, chain, ...Array.from({ length: count }, () => ns)]);
}

test('mesh DNS: queries with records or over 1232 bytes are refused before they are decoded', async (t) => {
  const a = { type: 'A', name: NAME, data: '10.0.0.1' } as const;
  const opt = (padding: number) =>
    ({
      type: 'OPT',
      name: '.',
      udpPayloadSize: 1232,
      options: [{ code: 12, data: Buffer.alloc(padding) }],
    }) as const;
  const withRecords = (sections: Partial<Record<'answers' | 'authorities' | 'additionals', unknown[]>>) =>
    dnsPacket.encode({
      type: 'query',
      id: 3,
      questions: [{ type: 'A', name: NAME }],
      ...(sections as object),
    });
  // Each of these decodes, and its question is answerable: only the header and the size refuse it.
  const refused: [string, Buffer][] = [
    ['ANCOUNT 1', withRecords({ answers: [a] })],
    ['NSCOUNT 1', withRecords({ authorities: [a] })],
    ['ARCOUNT 2', withRecords({ additionals: [a, a] })],
    ['1233 bytes', withRecords({ additionals: [opt(1233 - 52 - 15)] })],
    ['the pointer chain', pointerChainQuery()],
  ];
  assert.equal(refused[3]?.[1].length, 1233);
  for (const [label, packet] of refused) {
    assert.equal(rcode(answerQuery(packet, zone, 'tcp')), RCODE.FORMERR, label);
    assert.equal(answerQuery(packet, zone, 'udp'), undefined, label);
  }
  assert.equal(rcode(answerQuery(withRecords({ additionals: [opt(1232 - 52 - 15)] }), zone, 'udp')), 0);

  const { dns, port } = await startDns();
  t.after(() => dns.close());
  const client = await tcpClient(port, '127.0.80.3');
  t.after(() => client.socket.destroy());
  assert.equal(rcode(await tcpAsk(client, pointerChainQuery())), RCODE.FORMERR);
  assert.deepEqual(
    (await repliesUpToQuery(port, [pointerChainQuery()])).map((r) => r.readUInt16BE(0)),
    [0x7777],
  );
});

test('mesh DNS over UDP answers only well-formed queries, so it cannot ping-pong with a UDP service', async (t) => {
  const { dns, port } = await startDns();
  t.after(() => dns.close());
  const notQuery = query(4);
  notQuery.writeUInt16BE(notQuery.readUInt16BE(2) | (2 << 11), 2);
  const response = query(14);
  response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
  const twoQuestions = dnsPacket.encode({
    type: 'query',
    id: 5,
    questions: [
      { type: 'A', name: NAME },
      { type: 'A', name: 'db.shop.svc.clusterset.local' },
    ],
  });
  const replies = await repliesUpToQuery(port, [
    Buffer.from('!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n'), // chargen
    Buffer.from([0xeb, 0x1c, 0x2f, 0x00]), // time (RFC 868)
    Buffer.from('ffff0100ffffffffffffffffffff', 'hex'),
    query(6).subarray(0, 20),
    Buffer.from([1]),
    notQuery,
    response,
    twoQuestions,
  ]);
  assert.deepEqual(
    replies.map((r) => r.readUInt16BE(0)),
    [0x7777],
  );
  assert.equal(rcode(replies[0]), RCODE.NOERROR);
});

test('mesh DNS over TCP: a message must arrive whole within its deadline; idle clients stay', async (t) => {
  const { dns, port } = await startDns({ tcpMessageTimeoutMs: 300 });
  t.after(() => dns.close());
  const idle = await tcpClient(port, '127.0.80.3');
  t.after(() => idle.socket.destroy());
  assert.equal(rcode(await tcpAsk(idle, query(7))), RCODE.NOERROR);

  // One byte every 50 ms: the idle timeout never fires, but the message never completes.
  const slow = await tcpClient(port, '127.0.80.4');
  t.after(() => slow.socket.destroy());
  slow.socket.write(Buffer.from([0xff]));
  const drip = setInterval(() => slow.socket.write(Buffer.from([0])), 50);
  t.after(() => clearInterval(drip));
  await waitFor('the server to close the slow connection', slow.closed, 5_000);

  // Empty frames complete a message every time, but are no query: the connection ends.
  const empty = await tcpClient(port, '127.0.80.5');
  t.after(() => empty.socket.destroy());
  assert.equal(await tcpAsk(empty, Buffer.alloc(0)), undefined);

  // The deadline ran out long after the idle client's last message: it is still served.
  assert.equal(idle.closed(), false);
  assert.equal(rcode(await tcpAsk(idle, query(8))), RCODE.NOERROR);
});

test('mesh DNS over TCP: one address cannot take every connection', async (t) => {
  const { dns, port } = await startDns({ tcpConnectionsPerAddress: 2 });
  t.after(() => dns.close());
  const open = new Set<TcpClient>();
  t.after(() => open.forEach((c) => c.socket.destroy()));
  const client = async (address: string) => {
    const c = await tcpClient(port, address);
    open.add(c);
    return c;
  };
  const first = await client('127.0.80.3');
  const second = await client('127.0.80.3');
  assert.equal(rcode(await tcpAsk(first, query(9))), RCODE.NOERROR);
  assert.equal(rcode(await tcpAsk(second, query(10))), RCODE.NOERROR);

  assert.equal(await tcpAsk(await client('127.0.80.3'), query(11)), undefined, 'a third from one address');
  assert.equal(rcode(await tcpAsk(await client('127.0.80.4'), query(12))), RCODE.NOERROR);

  first.socket.destroy();
  const server = (dns as unknown as { connections: Set<Socket> }).connections;
  await waitFor('the server to see the first connection close', () => server.size === 2, 5_000);
  assert.equal(rcode(await tcpAsk(await client('127.0.80.3'), query(13))), RCODE.NOERROR);
});

test('mesh DNS over TCP counts an IPv6 client by its /64, an IPv4-mapped one by its IPv4 address', () => {
  const cases: [string, string][] = [
    ['2001:db8:0:1::7', '2001:db8:0:1::/64'],
    ['2001:db8:0:1:a:b:c:d', '2001:db8:0:1::/64'],
    ['2001:DB8:0:1:0:0:0:9', '2001:db8:0:1::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1:2:3:4', 'fe80:0:0:0::/64'],
    ['1:2:3:4:5::', '1:2:3:4::/64'],
    ['::ffff:127.0.80.3', '127.0.80.3'],
    ['127.0.80.3', '127.0.80.3'],
  ];
  for (const [address, network] of cases) assert.equal(clientNetworkOf(address), network, address);
});
