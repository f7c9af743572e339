// Answers one DNS query for the fabric zone. Pure: bytes in, bytes out (or nothing). Over UDP only a
// well-formed query is answered and anything else is dropped: an error reply to a spoofed datagram could
// start an endless exchange with a UDP service that answers every datagram (chargen, echo: a "loop DoS").
// Over TCP, which cannot be spoofed, bad queries get FORMERR or NOTIMP; responses are never answered.
// Every name of a service that exists resolves to the gateway's outbound listener: A or AAAA with its
// address, SRV with its port and the queried name as target. The question is echoed byte for byte, so
// resolvers that randomise the case of names (DNS 0x20) accept the answer. Names are read as labels from
// the wire, not as the dotted string dns-packet makes of them: a label may hold a dot or any byte.
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { isNameLabel, parseServiceName } from '../routing/service-name.js';

export interface MeshZone {
  /** Lower-case, no trailing dot, e.g. `clusterset.local`. */
  readonly zone: string;
  readonly defaultNamespace: string;
  /** The address answered for every service name (the outbound listener). */
  readonly address: { readonly host: string; readonly port: number; readonly family: 4 | 6 };
  readonly knows: (service: string, cluster?: string) => boolean;
}

/** BADVERS is an extended RCODE (RFC 6891): its low 4 bits go in the header, the rest in the OPT record. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/** Short: the answer (the gateway) never changes, but whether a service exists does. */
export const TTL_SECONDS = 5;
const UDP_LIMIT = 512;
const EDNS_PAYLOAD = 1232;
/** A question (at most 271 bytes) and an OPT record fit with room to spare; a larger packet is no query. */
const MAX_QUERY = EDNS_PAYLOAD;
const HEADER = 12;
const QR = 0x8000;
const OPCODE = 0x7800;
const RD = 0x0100;

/** Over UDP an answer larger than 512 bytes (or the client's EDNS size, up to 1232) is sent without its
 *  additional records, or, when still too large, truncated (TC set, records dropped) so the client retries
 *  over TCP. */
export function answerQuery(query: Buffer, zone: MeshZone, transport: 'udp' | 'tcp'): Buffer | undefined {
  if (query.length < 2) return undefined;
  const id = query.readUInt16BE(0);
  if (query.length < HEADER) return refuse(query, id, 0, RCODE.FORMERR, transport);
  const flags = query.readUInt16BE(2);
  if (flags & QR) return undefined;
  // Copied into every reply (RFC 1035 4.1.1), so a NOTIMP answer names the opcode it refuses.
  const echoed = flags & (OPCODE | RD);
  if (flags & OPCODE) return refuse(query, id, echoed, RCODE.NOTIMP, transport);
  // Checked before decoding: dns-packet decodes every section, and a crafted 64 KB packet full of
  // records and compression pointers costs it a second of CPU.
  if (
    query.length > MAX_QUERY ||
    query.readUInt16BE(4) !== 1 ||
    query.readUInt16BE(6) !== 0 ||
    query.readUInt16BE(8) !== 0 ||
    query.readUInt16BE(10) > 1
  ) {
    return refuse(query, id, echoed, RCODE.FORMERR, transport);
  }

  let packet: DecodedPacket;
  let questionEnd: number;
  let labels: string[] | undefined;
  try {
    packet = dnsPacket.decode(query);
    ({ end: questionEnd, labels } = readFirstQuestion(query));
  } catch {
    return refuse(query, id, echoed, RCODE.FORMERR, transport);
  }
  // QDCOUNT is 1: the decoded packet has one question.
  const question = packet.questions?.[0] as NonNullable<DecodedPacket['questions']>[number];
  const opt = packet.additionals?.find((a) => a.type === 'OPT');
  // Only EDNS version 0 exists: a later one gets BADVERS and our version (RFC 6891 6.1.3).
  const badVersion = opt?.type === 'OPT' && opt.ednsVersion !== 0;
  const optRecord: Answer[] = opt
    ? [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: EDNS_PAYLOAD,
          extendedRcode: badVersion ? RCODE.BADVERS >> 4 : 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ]
    : [];
  if (badVersion) {
    return reply(query, id, echoed, RCODE.BADVERS & 0xf, questionEnd, { additionals: optRecord });
  }
  const limit =
    transport === 'tcp'
      ? 65_535
      : opt && opt.type === 'OPT'
        ? Math.max(UDP_LIMIT, Math.min(opt.udpPayloadSize, EDNS_PAYLOAD))
        : UDP_LIMIT;

  const result = resolve(question, labels, zone);
  const sections: Sections = {
    answers: result.answers,
    authorities: result.authorities,
    additionals: [...result.additionals, ...optRecord],
    authoritative: result.rcode !== RCODE.REFUSED,
  };
  const full = reply(query, id, echoed, result.rcode, questionEnd, sections);
  if (full.length <= limit) return full;
  // Additional records may be left out without setting TC (RFC 2181 9): TC only when the answer does not fit.
  const answerOnly = reply(query, id, echoed, result.rcode, questionEnd, {
    ...sections,
    additionals: optRecord,
  });
  if (answerOnly.length <= limit) return answerOnly;
  return reply(query, id, echoed, result.rcode, questionEnd, {
    additionals: optRecord,
    authoritative: true,
    truncated: true,
  });
}

/** An error answer over TCP; over UDP nothing (see the top of this file). */
function refuse(
  query: Buffer,
  id: number,
  echoed: number,
  rcode: number,
  transport: 'udp' | 'tcp',
): Buffer | undefined {
  return transport === 'tcp' ? reply(query, id, echoed, rcode, HEADER) : undefined;
}

interface Resolution {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/** Printable ASCII but the dot: a label of only these bytes reads the same joined into a dotted name, and
 *  lower-cases as ASCII only (decoded as UTF-8, a Kelvin sign, U+212A, would lower-case to `k`). */
const PLAIN_LABEL = /^[\x20-\x2d\x2f-\x7e]+$/;

/** `labels` are the question's name as on the wire, undefined when it is compressed. */
function resolve(
  question: { type: string; class?: string },
  labels: string[] | undefined,
  zone: MeshZone,
): Resolution {
  const empty = { answers: [], authorities: [], additionals: [] };
  if (!labels || (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY')) {
    return { rcode: RCODE.REFUSED, ...empty };
  }
  // The zone is matched against the plain labels at the end of the name only: `x.clusterset\.local` is
  // not inside `clusterset.local`.
  const plainFrom = labels.findLastIndex((label) => !PLAIN_LABEL.test(label)) + 1;
  const name = labels.slice(plainFrom).join('.').toLowerCase();
  if (name !== zone.zone && !name.endsWith(`.${zone.zone}`)) return { rcode: RCODE.REFUSED, ...empty };
  const negative = { answers: [], authorities: [soa(zone.zone)], additionals: [] };
  // Inside the zone, but with a label that no service name has.
  if (plainFrom > 0) return { rcode: RCODE.NXDOMAIN, ...negative };
  if (name === zone.zone) {
    if (question.type === 'SOA' || question.type === 'ANY') {
      return { rcode: RCODE.NOERROR, answers: [soa(zone.zone)], authorities: [], additionals: [] };
    }
    return { rcode: RCODE.NOERROR, ...negative };
  }
  if (isEmptyNonTerminal(name, zone.zone)) return { rcode: RCODE.NOERROR, ...negative };
  // Only `<service>.<ns>.svc.<zone>` and `<cluster>.<service>.<ns>.svc.<zone>`: the short forms
  // parseServiceName also accepts are for Host headers, not for names inside the zone.
  const parsed = name.endsWith(`.svc.${zone.zone}`) ? parseServiceName(name, zone) : undefined;
  if (!parsed || !zone.knows(parsed.service, parsed.cluster)) return { rcode: RCODE.NXDOMAIN, ...negative };

  const owner = labels.join('.');
  const address = addressRecord(owner, zone);
  const srv: Answer = {
    type: 'SRV',
    name: owner,
    ttl: TTL_SECONDS,
    data: { priority: 0, weight: 1, port: zone.address.port, target: owner },
  };
  const wantsAddress =
    question.type === 'ANY' || question.type === (zone.address.family === 4 ? 'A' : 'AAAA');
  const answers: Answer[] = [];
  if (wantsAddress) answers.push(address);
  if (question.type === 'SRV' || question.type === 'ANY') answers.push(srv);
  if (answers.length === 0) return { rcode: RCODE.NOERROR, ...negative };
  const additionals = question.type === 'SRV' ? [address] : [];
  return { rcode: RCODE.NOERROR, answers, authorities: [], additionals };
}

/** `svc.<zone>` and `<namespace>.svc.<zone>` hold no records but service names beneath them, so they exist
 *  and get NODATA: NXDOMAIN would deny every name below (RFC 8020), and resolvers that minimise the query
 *  name (RFC 9156) would then never ask for a service. Every namespace counts: `knows` cannot tell which
 *  hold services. */
function isEmptyNonTerminal(name: string, zone: string): boolean {
  const svc = `svc.${zone}`;
  return name === svc || (name.endsWith(`.${svc}`) && isNameLabel(name.slice(0, -svc.length - 1)));
}

function addressRecord(owner: string, zone: MeshZone): Answer {
  return zone.address.family === 4
    ? { type: 'A', name: owner, ttl: TTL_SECONDS, data: zone.address.host }
    : { type: 'AAAA', name: owner, ttl: TTL_SECONDS, data: zone.address.host };
}

function soa(zone: string): Answer {
  return {
    type: 'SOA',
    name: zone,
    ttl: TTL_SECONDS,
    data: {
      mname: zone,
      rname: `hostmaster.${zone}`,
      serial: 1,
      refresh: 60,
      retry: 10,
      expire: 600,
      minimum: TTL_SECONDS,
    },
  };
}

interface Sections {
  answers?: Answer[];
  authorities?: Answer[];
  additionals?: Answer[];
  authoritative?: boolean;
  truncated?: boolean;
}

/** Header (with `echoed`, the query's RD and opcode bits) + the query's question bytes
 *  (12..questionEnd) + encoded records. */
function reply(
  query: Buffer,
  id: number,
  echoed: number,
  rcode: number,
  questionEnd: number,
  sections: Sections = {},
): Buffer {
  const flags =
    echoed |
    rcode |
    (sections.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    (sections.truncated ? dnsPacket.TRUNCATED_RESPONSE : 0);
  const records = dnsPacket.encode({
    type: 'response',
    id,
    flags,
    questions: [],
    answers: sections.answers ?? [],
    authorities: sections.authorities ?? [],
    additionals: sections.additionals ?? [],
  });
  const question = query.subarray(12, Math.min(questionEnd, query.length));
  const out = Buffer.concat([records.subarray(0, 12), question, records.subarray(12)]);
  out.writeUInt16BE(question.length > 0 ? 1 : 0, 4);
  return out;
}

/** The first question's name as labels, one character per byte (latin1), and the offset just past its
 *  type and class. A compressed name has no labels (and is refused): no resolver compresses the first
 *  question, where a pointer can only reach the header, itself, or bytes after the question. */
function readFirstQuestion(query: Buffer): { end: number; labels: string[] | undefined } {
  let labels: string[] | undefined = [];
  let offset = HEADER;
  for (;;) {
    const length = query.readUInt8(offset);
    if (length === 0) {
      offset += 1;
      break;
    }
    if ((length & 0xc0) === 0xc0) {
      offset += 2;
      labels = undefined;
      break;
    }
    labels.push(query.toString('latin1', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  if (offset + 4 > query.length) throw new RangeError('question runs past the end of the packet');
  return { end: offset + 4, labels };
}
